/**
 * A real HTTP backend for the Livewire tunnel tests (node:http on port 0), standing in for Laravel.
 * Every request is recorded. The query string chooses the behaviour:
 * - (none): 200 JSON echo `{ method, path, headers, cookies, body }`
 * - `set=<Set-Cookie value>` (repeatable): also sets those cookies
 * - `status=419|500|…`: answers that status with a text body
 * - `redirect=<Location>&code=302`: redirects
 * - `stream=N`: `text/event-stream` + `X-Livewire-Stream`, N chunks 100 ms apart
 * - `big=N`: a body of N bytes (`&trickle=ms`: its second half that much later)
 * - `delay=ms`: answers the echo after that long
 * - `hang=1`: never answers (`closed` records the request's end when the client gives up)
 * `/up` is the health check (200, or 503 while `healthy` is false).
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  cookies: Record<string, string>;
  body: string;
}

export interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
  cookies: Record<string, string>;
  body: string;
}

export class TestBackend {
  /** Requests seen, health checks excepted. */
  readonly seen: SeenRequest[] = [];
  /** URLs of requests whose client went away before the answer ended. */
  readonly closed: string[] = [];
  healthChecks = 0;
  healthy = true;
  /** Set when a streamed answer has sent its last byte. */
  streamsFinished = 0;
  private readonly server: http.Server;
  port = 0;

  constructor(private readonly host = '127.0.0.1') {
    this.server = http.createServer((req, res) => void this.serve(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  static async start(host?: string): Promise<TestBackend> {
    const b = new TestBackend(host);
    b.server.listen(0, b.host);
    await once(b.server, 'listening');
    b.port = (b.server.address() as AddressInfo).port;
    return b;
  }

  get origin(): string {
    return `http://${this.host}:${this.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://backend');
    if (url.pathname === '/up') {
      this.healthChecks++;
      res.writeHead(this.healthy ? 200 : 503, { 'content-type': 'text/plain' }).end(this.healthy ? 'ok' : 'down');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const cookies = parseCookies(req.headers.cookie);
    this.seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      path: url.pathname,
      headers: req.headers,
      cookies,
      body,
    });
    res.on('close', () => {
      if (!res.writableFinished) this.closed.push(req.url ?? '');
    });
    const q = url.searchParams;
    const setCookies = q.getAll('set');
    if (setCookies.length) res.setHeader('set-cookie', setCookies);
    if (q.has('hang')) return;
    if (q.has('delay')) await new Promise((r) => setTimeout(r, Number(q.get('delay'))));
    if (q.has('status')) {
      const status = Number(q.get('status'));
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(`<html>status ${status}</html>`);
      return;
    }
    if (q.has('redirect')) {
      res.writeHead(Number(q.get('code') ?? 302), { location: q.get('redirect')! }).end();
      return;
    }
    if (q.has('stream')) {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'x-livewire-stream': 'true',
        'cache-control': 'no-cache',
      });
      const n = Number(q.get('stream'));
      for (let i = 0; i < n; i++) {
        res.write(`{"stream":true,"body":{"n":${i}},"endStream":${i === n - 1}}`);
        await new Promise((r) => setTimeout(r, 100));
        if (res.destroyed) return;
      }
      this.streamsFinished++;
      res.end('{"components":[]}');
      return;
    }
    if (q.has('big')) {
      const n = Number(q.get('big'));
      const text = 'é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2);
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': String(Buffer.byteLength(text)),
      });
      if (q.has('trickle')) {
        const half = Math.floor(text.length / 2);
        res.write(text.slice(0, half));
        await new Promise((r) => setTimeout(r, Number(q.get('trickle'))));
        if (!res.destroyed) res.end(text.slice(half));
        return;
      }
      res.end(text);
      return;
    }
    const echo: Echo = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers as Record<string, string>,
      cookies,
      body,
    };
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-backend': String(this.port) })
      .end(JSON.stringify(echo));
  }
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}
