#!/usr/bin/env node
/**
 * Round-trip latency of a Livewire-sized update: over the wiremesh socket (tunnel) vs plain HTTP
 * to the same backend, on this machine. Runs against dist/ (build first: `npx tsc -p tsconfig.json`).
 *
 *   node bench/livewire-rtt.mjs [--n=200] [--delays=0,40,150]
 *
 * For each added network round-trip time (a local TCP proxy delays every piece of data by half
 * of it, each way, in front of wiremesh and in front of the backend), it sends N sequential
 * requests over: the tunnel on a warm socket; HTTP on a kept-alive connection; HTTP on a new
 * connection each time (what a browser pays after its idle connection was closed; no TLS here,
 * which would add one more round trip). Prints median and p99 in milliseconds. Everything listens
 * on 127.0.0.1, and every loop is bounded by N.
 */
import http from 'node:http';
import { once } from 'node:events';
import WebSocket from 'ws';
import { delayProxy } from './delay-proxy.mjs';
import { TestBackend } from '../dist/test/helpers/livewire-backend.js';
import { validateConfig } from '../dist/src/config/validate.js';
import { createLogger } from '../dist/src/log/logger.js';
import { startServer } from '../dist/src/server.js';

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const N = Number(arg('n', '200'));
const DELAYS = arg('delays', '0,40,150').split(',').map(Number);
const WARMUP = 20;
const PAGE = 'https://app.example.test';
// A typical Livewire 3 update: one component, a snapshot and one call.
const BODY = JSON.stringify({
  _token: 'x'.repeat(40),
  components: [
    {
      snapshot: JSON.stringify({
        data: { count: 1, items: Array.from({ length: 20 }, (_, i) => `item ${i}`) },
        memo: { id: 'abc123', name: 'counter', path: '/', method: 'GET', children: [], errors: [], locale: 'en' },
        checksum: 'f'.repeat(64),
      }),
      updates: {},
      calls: [{ path: '', method: 'increment', params: [] }],
    },
  ],
});
const HEADERS = { 'content-type': 'application/json', 'x-livewire': '' };

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { median: at(0.5), p99: at(0.99) };
}

async function tunnelSamples(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/app-key?protocol=7&client=js&version=8.4.0`, {
    headers: { origin: PAGE },
  });
  const waiting = new Map();
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'pusher:connection_established') waiting.get('open')?.();
    if (f.event === 'wiremesh:response' || f.event === 'wiremesh:fallback') waiting.get(f.data.id)?.(f);
  });
  // A socket the server closes (a limit, a crash) fails the run instead of leaving it waiting.
  const closed = new Promise((_, reject) =>
    ws.on('close', (code, reason) => reject(new Error(`tunnel socket closed: ${code} ${reason}`))),
  );
  closed.catch(() => {});
  await Promise.race([new Promise((resolve) => waiting.set('open', resolve)), closed]);
  const one = async (id) => {
    const answered = Promise.race([new Promise((resolve) => waiting.set(id, resolve)), closed]);
    const t = performance.now();
    ws.send(
      JSON.stringify({
        event: 'wiremesh:request',
        data: { id, method: 'POST', path: '/livewire/update', headers: HEADERS, body: BODY },
      }),
    );
    const f = await answered;
    waiting.delete(id);
    if (f.event !== 'wiremesh:response' || f.data.status !== 200)
      throw new Error(`tunnel: ${JSON.stringify(f).slice(0, 200)}`);
    return performance.now() - t;
  };
  for (let i = 0; i < WARMUP; i++) await one(`w${i}`);
  const out = [];
  for (let i = 0; i < N; i++) out.push(await one(`r${i}`));
  ws.close();
  return out;
}

async function httpSamples(port, keepAlive) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
  const one = async () => {
    const t = performance.now();
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/livewire/update',
      method: 'POST',
      headers: HEADERS,
      agent,
    });
    req.end(BODY);
    const [res] = await once(req, 'response');
    for await (const _ of res);
    if (res.statusCode !== 200) throw new Error(`http: ${res.statusCode}`);
    return performance.now() - t;
  };
  for (let i = 0; i < WARMUP; i++) await one();
  const out = [];
  for (let i = 0; i < N; i++) out.push(await one());
  if (agent) agent.destroy();
  return out;
}

const backend = await TestBackend.start();
const config = validateConfig({
  host: '127.0.0.1',
  port: 0,
  logLevel: 'warn',
  apps: [
    {
      id: 'app-id',
      key: 'app-key',
      secret: 'app-secret',
      livewire: {
        backends: [backend.origin],
        publicUrl: PAGE,
        // One socket sends WARMUP + N requests back to back, far above a page's rate (by default
        // 30 a second, bursts of 60; beyond, each falls back to HTTP): no request budget here.
        maxRequestsPerSecond: 0,
      },
    },
  ],
});
const server = await startServer(config, { logger: createLogger({ level: 'warn' }) });

console.log(`Livewire update round trip, ${N} sequential requests each (body ${BODY.length} bytes), milliseconds`);
console.log(
  'added RTT | tunnel (warm socket) median / p99 | HTTP keep-alive median / p99 | HTTP new connection median / p99',
);
try {
  for (const rtt of DELAYS) {
    const toServer = await delayProxy(server.port, rtt / 2);
    const toBackend = await delayProxy(backend.port, rtt / 2);
    const tunnel = stats(await tunnelSamples(toServer.port));
    const warm = stats(await httpSamples(toBackend.port, true));
    const cold = stats(await httpSamples(toBackend.port, false));
    const f = (s) => `${s.median.toFixed(2)} / ${s.p99.toFixed(2)}`;
    console.log(`${String(rtt).padStart(6)} ms | ${f(tunnel)} | ${f(warm)} | ${f(cold)}`);
    toServer.close();
    toBackend.close();
  }
} finally {
  await server.stop('immediate');
  await backend.close();
}
