/**
 * Test helper: a real HTTP server on port 0 that records webhook requests and answers as told,
 * plus the official `pusher` SDK's webhook check. (Named `*.test.helper.*` so `node --test`
 * does not run it and the package does not ship it.)
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Pusher from 'pusher';
import {
  appDefaults,
  WEBHOOK_EVENTS,
  type AppConfig,
  type WebhookEndpointConfig,
  type WebhooksConfig,
} from '../config/schema.js';
import type { WebhookObserver } from './types.js';

/** Dispatcher settings for tests: short batches and timeouts, the production bounds. */
export const TEST_WEBHOOKS: WebhooksConfig = {
  batchMs: 20,
  timeoutMs: 500,
  retryForMs: 2_000,
  maxQueuedBatches: 100,
  maxBatchEvents: 1000,
  maxBatchBytes: 262144,
  maxQueuedBytes: 16777216,
};

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** performance.now() when the body had arrived. */
  at: number;
  /** The client went away before an answer was sent (timeout or abort). */
  abandoned: boolean;
}

/**
 * Status to answer with (at once, or after `afterMs`), or 'hang' to never answer.
 * `nth` counts earlier requests to the same path.
 */
export type Responder = (req: Received, nth: number) => number | 'hang' | { status: number; afterMs: number };

export interface Receiver {
  url(path: string): string;
  readonly requests: Received[];
  on(path: string): Received[];
  /** Resolves once `count` requests have arrived (on `path` if given); rejects after `ms`. */
  waitFor(count: number, opts?: { path?: string; ms?: number }): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(respond: Responder = () => 200): Promise<Receiver> {
  const requests: Received[] = [];
  const on = (path: string): Received[] => requests.filter((r) => r.path === path);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const received: Received = {
      path: req.url ?? '',
      headers: req.headers,
      rawBody: Buffer.concat(chunks).toString('utf8'),
      at: performance.now(),
      abandoned: false,
    };
    res.on('close', () => {
      received.abandoned = !res.writableFinished;
    });
    const nth = on(received.path).length;
    requests.push(received);
    const answer = respond(received, nth);
    if (answer === 'hang') return;
    if (typeof answer === 'number') {
      res.writeHead(answer).end();
      return;
    }
    await sleep(answer.afterMs);
    if (!res.destroyed) res.writeHead(answer.status).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => res.destroy(err as Error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    requests,
    on,
    async waitFor(count, { path, ms = 2_000 } = {}) {
      const list = (): Received[] => (path ? on(path) : requests);
      const until = performance.now() + ms;
      while (list().length < count) {
        if (performance.now() > until) throw new Error(`expected ${count} requests, got ${list().length}`);
        await sleep(5);
      }
      return list();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** Checks a received request with the `pusher` SDK's own webhook helper. */
export function pusherWebhook(req: Received, app: Pick<AppConfig, 'id' | 'key' | 'secret'>): Pusher.WebHook {
  const pusher = new Pusher({ appId: app.id, key: app.key, secret: app.secret, cluster: 'mt1' });
  return pusher.webhook({ headers: req.headers, rawBody: req.rawBody });
}

/** Event objects of a received request, parsed (no signature check). */
export function eventsOf(req: { rawBody: string }): Array<Record<string, unknown>> {
  return (JSON.parse(req.rawBody) as { events: Array<Record<string, unknown>> }).events;
}

export function makeApp(id: string, endpoints: Array<Partial<WebhookEndpointConfig> & { url: string }>): AppConfig {
  return {
    ...appDefaults(),
    id,
    key: `${id}-key`,
    secret: `${id}-secret`,
    webhooks: endpoints.map((e) => ({ events: [...WEBHOOK_EVENTS], headers: {}, filter: {}, ...e })),
  };
}

export class RecordingObserver implements WebhookObserver {
  readonly sends: Array<[appId: string, ok: boolean, attempt: number]> = [];
  readonly drops: Array<[appId: string, events: number, reason: 'expired' | 'queue_full']> = [];
  sent(appId: string, ok: boolean, attempt: number): void {
    this.sends.push([appId, ok, attempt]);
  }
  dropped(appId: string, events: number, reason: 'expired' | 'queue_full'): void {
    this.drops.push([appId, events, reason]);
  }
}

/** Polls until `check()` is true; throws `message` after `ms`. */
export async function eventually(check: () => boolean, message: string, ms = 2_000): Promise<void> {
  const until = performance.now() + ms;
  while (!check()) {
    if (performance.now() > until) throw new Error(message);
    await sleep(5);
  }
}
