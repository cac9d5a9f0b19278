/**
 * A real HTTP upstream for the shared-fragment tests (node:http on port 0), standing in for the
 * Laravel route of docs/fragments.md: it verifies each render request with the `pusher` server
 * SDK's webhook check (the same HMAC as pusher-php-server's `webhook()`) given the fragment key
 * (HMAC-SHA256 of `wiremesh-fragment-v1` with the app secret, hex) as the secret, records it
 * (and whether it would also pass as a webhook signed with the app secret), and answers
 * the members as an HTML list — or, one answer each, what a test queued (a status, a delay, a
 * body of a given size). `/up` is the health check.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serverSdk } from './clients.js';
import { APP } from './server.js';

/** The key render requests are signed with, worked out as docs/fragments.md tells the app to. */
export const FRAGMENT_KEY = createHmac('sha256', APP.secret).update('wiremesh-fragment-v1').digest('hex');

export interface SeenRender {
  node: string;
  /** X-Forwarded-Host as sent (the app's publicUrl). */
  forwardedHost: string | undefined;
  valid: boolean;
  /** The same request checked as a webhook (with the app secret): must never pass. */
  validAsWebhook: boolean;
  fragment: string;
  channel: string;
  members: string[];
  subscriptionCount: number;
  at: number;
}

export interface QueuedAnswer {
  status?: number;
  delayMs?: number;
  /** Answer this many bytes of HTML. */
  bytes?: number;
}

export class FragmentUpstream {
  readonly renders: SeenRender[] = [];
  readonly queue: QueuedAnswer[] = [];
  /** Shown in every rendered list, so a test can tell renders apart. */
  title = 'Online';
  private readonly server = http.createServer((req, res) => void this.serve(req, res));
  port = 0;

  static async start(): Promise<FragmentUpstream> {
    const u = new FragmentUpstream();
    u.server.listen(0, '127.0.0.1');
    await once(u.server, 'listening');
    u.port = (u.server.address() as AddressInfo).port;
    return u;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.url === '/up') {
      res.writeHead(200).end('ok');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    // pusher's webhook() takes lower-case header names, as Node gives them.
    const signed = { headers: req.headers as Record<string, string>, rawBody };
    const valid = serverSdk(0, { secret: FRAGMENT_KEY }).webhook(signed).isValid();
    const validAsWebhook = serverSdk(0).webhook(signed).isValid();
    const event = (JSON.parse(rawBody) as { events: Array<Record<string, unknown>> }).events[0] as {
      fragment: string;
      channel: string;
      members: Array<{ user_id: string }>;
      subscription_count: number;
    };
    const members = event.members.map((m) => m.user_id).sort();
    this.renders.push({
      node: String(req.headers['x-wiremesh-node'] ?? ''),
      forwardedHost: req.headers['x-forwarded-host'] as string | undefined,
      valid,
      validAsWebhook,
      fragment: event.fragment,
      channel: event.channel,
      members,
      subscriptionCount: event.subscription_count,
      at: Date.now(),
    });
    const answer = this.queue.shift() ?? {};
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (!valid) return void res.writeHead(401).end('bad signature');
    if (answer.status && answer.status !== 200)
      return void res.writeHead(answer.status).end(`failure ${answer.status}`);
    const html = answer.bytes
      ? 'x'.repeat(answer.bytes)
      : `<h2>${this.title}</h2><ul>${members.map((m) => `<li>${m}</li>`).join('')}</ul>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  }
}
