/**
 * `wiremesh start` on the `ws` transport warms the node's code up before the real port opens:
 * it starts a second, throwaway node in this process (its own generated app, the in-memory
 * cluster, no webhooks, no Livewire, silent logs, its own metrics) on a loopback port, puts a
 * little of everything through it over real sockets (connections that subscribe to a public, a
 * private and a presence channel; signed HTTP API events published to open sockets), and stops
 * it. The real node then starts on code V8 has already compiled and optimised: node:http, `ws`,
 * the transport, the core's connect, subscribe, presence and publish paths, the HTTP API. A fresh
 * node would otherwise interpret that code, and with serial JIT compile each hot function on the
 * main thread (3–11 ms each, `--trace-opt`), while its first clients wait: the reconnect storm
 * after a deploy lands on cold code (docs/transport.md, "Warm-up before the port opens").
 * Nothing of it reaches the real node: different objects, no shared state, no cluster.
 * The native transport needs none: its hot paths are C++.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { WebSocket } from 'ws';
import { loadConfig } from '../config/load.js';
import { silentLogger } from '../log/logger.js';
import { channelAuthString, hmacHex, signedApiPath } from '../protocol/signature.js';
import { startServer } from '../server.js';

export interface WarmUp {
  /** WebSocket connections (10 at a time), each subscribing to three channels, then closing. */
  clients: number;
  /** Signed HTTP API events (10 in flight), each published to `LISTENERS` open sockets. */
  events: number;
}

/** `WIREMESH_WARMUP=off` starts `wiremesh start` without it. */
export const WARMUP_ENV = 'WIREMESH_WARMUP';

/** What `wiremesh start` runs: ~1 s on an idle 2-core machine (each worker warms itself). */
export const START_WARM_UP: WarmUp = { clients: 300, events: 2_000 };

const BATCH = 10;
const LISTENERS = 10;

interface App {
  id: string;
  key: string;
  secret: string;
}

export interface WarmedUp {
  ms: number;
  /** Subscriptions the throwaway node confirmed (3 per client when all went well). */
  subscribed: number;
  /** Events the open sockets received (`events` × 10 when all went well). */
  received: number;
}

/** Runs the warm-up; says how long it took and how much of it went through. */
export async function warmUp({ clients, events }: WarmUp): Promise<WarmedUp> {
  const started = performance.now();
  const app: App = { id: 'warm-up', key: randomBytes(10).toString('hex'), secret: randomBytes(16).toString('hex') };
  const config = await loadConfig({
    env: {
      WIREMESH_HOST: '127.0.0.1',
      WIREMESH_PORT: '0',
      WIREMESH_TRANSPORT: 'ws',
      WIREMESH_LOG_LEVEL: 'silent',
      WIREMESH_REEXEC: 'off',
      PUSHER_APP_ID: app.id,
      PUSHER_APP_KEY: app.key,
      PUSHER_APP_SECRET: app.secret,
    },
  });
  const node = await startServer(config, { logger: silentLogger });
  const agent = new http.Agent({ keepAlive: true, maxSockets: BATCH });
  const listeners: WebSocket[] = [];
  const count = { subscribed: 0, received: 0 };
  try {
    await inBatches(clients, (i) => visit(node.port, app, i, count));
    for (let i = 0; i < LISTENERS; i++) listeners.push(await listen(node.port, app, count));
    await inBatches(events, (i) => publish(node.port, app, agent, i));
    // The last events may still be on their way to the listeners.
    const until = Date.now() + 1_000;
    while (count.received < events * LISTENERS && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  } finally {
    for (const ws of listeners) ws.terminate();
    agent.destroy();
    await node.stop('immediate');
  }
  return { ms: Math.round(performance.now() - started), ...count };
}

interface Count {
  subscribed: number;
  received: number;
}

async function inBatches(total: number, one: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < total; i += BATCH)
    await Promise.all(Array.from({ length: Math.min(BATCH, total - i) }, (_, k) => one(i + k)));
}

function open(port: number, app: App): WebSocket {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${app.key}?protocol=7&client=js&version=8.4.0`, {
    perMessageDeflate: false,
  });
  ws.on('error', () => ws.terminate());
  return ws;
}

/** Connects, subscribes to a public, a private and a presence channel, sends a ping, closes. */
async function visit(port: number, app: App, i: number, count: Count): Promise<void> {
  const ws = open(port, app);
  let subscribed = 0;
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as { event: string; data?: string };
    if (m.event === 'pusher:connection_established') {
      const socketId = (JSON.parse(m.data!) as { socket_id: string }).socket_id;
      const presence = JSON.stringify({ user_id: `u${i}`, user_info: { name: `user ${i}` } });
      ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: `warm-${i % 10}` } }));
      ws.send(sub('private-warm', auth(app, socketId, 'private-warm')));
      ws.send(sub('presence-warm', auth(app, socketId, 'presence-warm', presence), presence));
    } else if (m.event === 'pusher_internal:subscription_succeeded') {
      count.subscribed++;
      if (++subscribed === 3) ws.send('{"event":"pusher:ping","data":{}}');
    } else if (m.event === 'pusher:pong' || m.event === 'pusher:error') ws.close();
  });
  await once(ws, 'close');
}

function sub(channel: string, auth: string, channelData?: string): string {
  return JSON.stringify({
    event: 'pusher:subscribe',
    data: channelData === undefined ? { channel, auth } : { channel, auth, channel_data: channelData },
  });
}

function auth(app: App, socketId: string, channel: string, channelData?: string): string {
  return `${app.key}:${hmacHex(app.secret, channelAuthString(socketId, channel, channelData))}`;
}

/** A socket subscribed to `warm-0` that stays open and reads what is published. */
async function listen(port: number, app: App, count: Count): Promise<WebSocket> {
  const ws = open(port, app);
  await once(ws, 'open');
  ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'warm-0' } }));
  await new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const event = (JSON.parse(String(data)) as { event: string }).event;
      if (event === 'warm-up') count.received++;
      else if (event === 'pusher_internal:subscription_succeeded') resolve();
    });
    ws.once('close', () => resolve());
  });
  return ws;
}

/** One signed `POST /apps/:id/events` to `warm-0`, as the Pusher SDKs send it. */
async function publish(port: number, app: App, agent: http.Agent, i: number): Promise<void> {
  const body = JSON.stringify({
    name: 'warm-up',
    channel: 'warm-0',
    data: JSON.stringify({ i, pad: 'x'.repeat(100) }),
  });
  await new Promise<void>((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        agent,
        method: 'POST',
        path: signedApiPath(app, 'POST', `/apps/${app.id}/events`, body),
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
