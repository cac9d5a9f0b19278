/**
 * A real local webhook receiver (node:http on port 0) that checks every request with the `pusher`
 * SDK's own helper, as a Laravel/Node backend would. Each path is an endpoint with its own log.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type Pusher from 'pusher';

export interface WebhookEventJson {
  name: string;
  channel: string;
  [k: string]: unknown;
}

export interface ReceivedHook {
  path: string;
  at: number;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  /** `sdk.webhook({ headers, rawBody }).isValid()`. */
  valid: boolean;
  /** `getEvents()` of a valid hook; [] otherwise. */
  events: WebhookEventJson[];
  /** The status this receiver answered. */
  answered: number | 'hung';
}

/** How to answer the n-th request (0-based) to a path: a status, or 'hang' (never answer). */
export type Responder = (path: string, n: number) => number | 'hang';

export interface WebhookReceiver {
  port: number;
  url(path: string): string;
  hooks: ReceivedHook[];
  /** Hooks received on `path` (all paths when omitted). */
  on(path?: string): ReceivedHook[];
  /** Events of valid hooks on `path` (all paths when omitted), in arrival order. */
  events(path?: string): WebhookEventJson[];
  close(): Promise<void>;
}

export async function webhookReceiver(sdk: Pusher, respond: Responder = () => 200): Promise<WebhookReceiver> {
  const hooks: ReceivedHook[] = [];
  const perPath = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const n = perPath.get(path) ?? 0;
      perPath.set(path, n + 1);
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const hook = sdk.webhook({ headers: req.headers as Record<string, string>, rawBody });
      const valid = hook.isValid();
      const answer = respond(path, n);
      hooks.push({
        path,
        at: Date.now(),
        headers: req.headers,
        rawBody,
        valid,
        events: valid ? (hook.getEvents() as unknown as WebhookEventJson[]) : [],
        answered: answer === 'hang' ? 'hung' : answer,
      });
      if (answer === 'hang') return;
      res.writeHead(answer, { 'content-type': 'text/plain' });
      res.end(answer < 300 ? 'ok' : 'nope');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const on = (path?: string): ReceivedHook[] => (path === undefined ? hooks : hooks.filter((h) => h.path === path));
  return {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    hooks,
    on,
    events: (path) => on(path).flatMap((h) => h.events),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
