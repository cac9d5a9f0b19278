/**
 * Warms the `ws` transport's JavaScript before the real port opens. A throwaway transport on a
 * loopback port takes WebSocket connections and HTTP requests from this process (the handshake, a
 * few text frames each way, a publish to a topic, a POST), then closes. V8 has then compiled and
 * optimised the code of node:http, `ws`'s handshake, sender and receiver and this transport's
 * paths, which a fresh node would otherwise interpret, and compile on the main thread, while its
 * first clients wait: the reconnect storm after a deploy lands on cold code (bench/RESULTS.md,
 * "Warm-up"). Nothing of it reaches the core: no app, no metrics, no webhooks, no cluster.
 * The native transport needs none: its hot paths are C++.
 */
import { once } from 'node:events';
import http from 'node:http';
import { WebSocket } from 'ws';
import type { Logger } from '../log/logger.js';
import type { Transport, TransportOptions } from './types.js';

export interface WarmUp {
  /** WebSocket connections, 10 at a time. */
  clients: number;
  /** HTTP requests, 10 at a time, each publishing an event to 10 open sockets. */
  requests: number;
}

/** `WIREMESH_WARMUP=off` starts `wiremesh start` without it. */
export const WARMUP_ENV = 'WIREMESH_WARMUP';

/** What `wiremesh start` runs: ~0.3 s on an idle 2-core machine (each worker warms itself). */
export const START_WARM_UP: WarmUp = { clients: 200, requests: 2_000 };

const TOPIC = 'warm-up';
const BATCH = 10;
const LISTENERS = 10;

export async function warmUp(
  make: (options: TransportOptions) => Transport,
  options: TransportOptions,
  logger: Logger,
  { clients, requests }: WarmUp,
): Promise<void> {
  const started = performance.now();
  const transport = make({ ...options, host: '127.0.0.1', port: 0, sharedPort: false });
  const port = await transport.listen({
    openSocket(socket) {
      socket.send('{"event":"pusher:connection_established","data":"{}"}');
      socket.subscribe(TOPIC);
      return {
        onMessage(text) {
          socket.send(text);
          transport.publish(TOPIC, text, socket);
        },
        onClose() {},
      };
    },
    handleHttp: async (req) => {
      transport.publish(
        TOPIC,
        `{"event":"warm-up","channel":"${TOPIC}","data":${JSON.stringify(req.body.toString())}}`,
      );
      return { status: 200, body: '{}' };
    },
  });
  const listeners: WebSocket[] = [];
  try {
    await inBatches(clients, () => oneSocket(port));
    // Events published to a few open sockets, one per POST: the API and fan-out paths, long enough
    // for V8 to optimise them (functions are optimised after thousands of calls, not hundreds).
    for (let i = 0; i < LISTENERS; i++) listeners.push(await listener(port));
    await inBatches(requests, () => onePost(port));
  } finally {
    for (const ws of listeners) ws.terminate();
    await transport.close();
  }
  logger.debug('ws transport warmed up', { clients, requests, port, ms: Math.round(performance.now() - started) });
}

async function inBatches(total: number, one: () => Promise<void>): Promise<void> {
  for (let i = 0; i < total; i += BATCH) await Promise.all(Array.from({ length: Math.min(BATCH, total - i) }, one));
}

/** A socket that stays open and reads what is published. */
async function listener(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/warm-up?protocol=7&client=wiremesh`, {
    perMessageDeflate: false,
  });
  ws.on('error', () => ws.terminate());
  await once(ws, 'message');
  return ws;
}

/** Open, three frames out and back, close. */
async function oneSocket(port: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/warm-up?protocol=7&client=wiremesh`, {
    perMessageDeflate: false,
  });
  let left = 3;
  ws.on('message', () => {
    if (left-- > 0) ws.send(`{"event":"pusher:subscribe","data":{"channel":"${TOPIC}"}}`);
    else ws.close();
  });
  ws.on('error', () => ws.terminate());
  await once(ws, 'close');
}

async function onePost(port: number): Promise<void> {
  const body = `{"name":"warm-up","channel":"${TOPIC}","data":"${'x'.repeat(100)}"}`;
  await new Promise<void>((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/apps/warm-up/events',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      },
    );
    req.on('error', () => resolve());
    req.end(body);
  });
}
