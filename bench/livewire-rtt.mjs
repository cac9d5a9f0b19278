#!/usr/bin/env node
/**
 * Round-trip latency of a Livewire-sized update: over the wiremesh socket (tunnel) vs plain HTTP
 * keep-alive to the same backend, measured in the same run. Runs against dist/ (build first).
 *
 *   node bench/livewire-rtt.mjs [--concurrency=1,100] [--delays=0,40,150] [--rounds=5] [--n=200]
 *                               [--per-page=20] [--transport=ws|uws|auto] [--cold]
 *
 * Four processes, as in production: the backend (the test backend, standing in for Laravel), the
 * wiremesh server (on WIREMESH_NODE when set, e.g. Node 24; WIREMESH_NODE_FLAGS adds flags such as
 * `--cpu-prof`), the network (a delay proxy per added RTT, in front of wiremesh and in front of the
 * backend: bench/delay-proxy.mjs; none at 0 ms) and this process, the pages. wiremesh reaches the
 * backend directly (the upstream is next to it).
 *
 * For each RTT and each concurrency C: `rounds` rounds; in each, the tunnel and keep-alive in turn
 * (the order alternates from round to round), each with C pages sending requests back to back: a
 * page is one warm WebSocket (tunnel) or one kept-alive HTTP connection (an agent of one socket).
 * C = 1 sends N requests; larger C sends `per-page` requests per page. Both modes do the same client
 * work: the Livewire body is parsed as JSON (after the frame, for the tunnel). Prints per mode the
 * median over rounds of each round's p50 and p99, and the tunnel's overhead (the median over rounds
 * of the per-round difference to keep-alive). `--cold` adds HTTP on a new connection per request.
 * Every loop is bounded; everything listens on 127.0.0.1.
 */
import http from 'node:http';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import WebSocket from 'ws';

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const list = (name, fallback) => arg(name, fallback).split(',').map(Number);
const HERE = fileURLToPath(import.meta.url);
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
const START_TIMEOUT_MS = 30_000;

/** The roles of the child processes: each prints one JSON line when ready, and exits when stdin closes. */
async function child(role) {
  let ready;
  if (role === 'backend') {
    const { TestBackend } = await import('../dist/test/helpers/livewire-backend.js');
    const backend = await TestBackend.start();
    // The backend records every request it sees (for the tests): here it would only grow.
    backend.seen.push = () => 0;
    ready = { port: backend.port };
  } else if (role === 'server') {
    const { validateConfig } = await import('../dist/src/config/validate.js');
    const { createLogger } = await import('../dist/src/log/logger.js');
    const { startServer } = await import('../dist/src/server.js');
    const config = validateConfig({
      host: '127.0.0.1',
      port: 0,
      logLevel: 'warn',
      transport: arg('transport', 'ws'),
      limits: { maxConnectionsPerIp: 0 },
      apps: [
        {
          id: 'app-id',
          key: 'app-key',
          secret: 'app-secret',
          livewire: {
            backends: [`http://127.0.0.1:${arg('backend', '0')}`],
            publicUrl: PAGE,
            // Each page sends its requests back to back, far above a page's rate (by default 30 a
            // second, bursts of 60; beyond, each falls back to HTTP): no request budget here.
            maxRequestsPerSecond: 0,
          },
        },
      ],
    });
    const server = await startServer(config, { logger: createLogger({ level: 'warn' }) });
    ready = { port: server.port, transport: server.transport ?? config.transport, node: process.version };
  } else if (role === 'proxy') {
    const { delayProxy } = await import('./delay-proxy.mjs');
    const oneWay = Number(arg('one-way', '0'));
    const ports = [];
    for (const target of arg('targets', '').split(',').map(Number)) ports.push((await delayProxy(target, oneWay)).port);
    ready = { ports };
  } else throw new Error(`unknown role ${role}`);
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/** Starts a child role; resolves with its ready line and a stop function. */
async function start(role, args, node = process.execPath, flags = []) {
  const proc = spawn(node, [...flags, HERE, `--role=${role}`, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout });
  const timer = setTimeout(() => proc.kill('SIGKILL'), START_TIMEOUT_MS);
  const [line] = await Promise.race([
    once(lines, 'line'),
    once(proc, 'exit').then(([code]) => Promise.reject(new Error(`${role} exited (${code}) before it was ready`))),
  ]);
  clearTimeout(timer);
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = once(proc, 'exit');
    proc.stdin.end();
    const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  };
  return { ...JSON.parse(line), stop };
}

/** One page's tunnel: a warm socket; `one()` sends an update and resolves with its milliseconds. */
async function tunnelPage(port, name) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/app-key?protocol=7&client=js&version=8.4.0`, {
    headers: { origin: PAGE },
  });
  const waiting = new Map();
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'pusher:connection_established') waiting.get('open')?.(f);
    if (f.event === 'wiremesh:response' || f.event === 'wiremesh:fallback') waiting.get(f.data.id)?.(f);
  });
  // A socket the server closes (a limit, a crash) fails the run instead of leaving it waiting.
  const closed = new Promise((_, reject) =>
    ws.on('close', (code, reason) => reject(new Error(`tunnel socket closed: ${code} ${reason}`))),
  );
  closed.catch(() => {});
  ws.on('error', () => {});
  await Promise.race([new Promise((resolve) => waiting.set('open', resolve)), closed]);
  let seq = 0;
  const one = async () => {
    const id = `${name}-${seq++}`;
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
    if (f.event !== 'wiremesh:response' || f.data.status !== 200 || !f.data.done)
      throw new Error(`tunnel: ${JSON.stringify(f).slice(0, 200)}`);
    JSON.parse(f.data.body); // what Livewire does with the answer
    return performance.now() - t;
  };
  return { one, close: () => ws.terminate() };
}

/** One page's HTTP: kept-alive (one socket, reused) or a new connection per request. */
function httpPage(port, keepAlive) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
  const one = async () => {
    const t = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path: '/livewire/update', method: 'POST', headers: HEADERS, agent });
    req.end(BODY);
    const [res] = await once(req, 'response');
    const chunks = [];
    for await (const c of res) chunks.push(c);
    if (res.statusCode !== 200) throw new Error(`http: ${res.statusCode}`);
    JSON.parse(Buffer.concat(chunks).toString()); // what Livewire does with the answer
    return performance.now() - t;
  };
  return { one, close: () => agent && agent.destroy() };
}

/** C pages, each `warmup` then `count` requests back to back; the samples of all. */
async function run(pages, warmup, count) {
  const out = [];
  await Promise.all(
    pages.map(async (p) => {
      for (let i = 0; i < warmup; i++) await p.one();
      for (let i = 0; i < count; i++) out.push(await p.one());
    }),
  );
  for (const p of pages) p.close();
  return out;
}

function quantiles(samples) {
  const s = Float64Array.from(samples).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { p50: at(0.5), p99: at(0.99) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const CONCURRENCY = list('concurrency', '1,100');
  const DELAYS = list('delays', '0,40,150');
  const ROUNDS = Number(arg('rounds', '5'));
  const N = Number(arg('n', '200'));
  const PER_PAGE = Number(arg('per-page', '20'));
  const COLD = process.argv.includes('--cold');
  const serverNode = process.env.WIREMESH_NODE ?? process.execPath;
  const serverFlags = (process.env.WIREMESH_NODE_FLAGS ?? '').split(' ').filter(Boolean);

  const backend = await start('backend', []);
  const server = await start(
    'server',
    [`--backend=${backend.port}`, `--transport=${arg('transport', 'ws')}`],
    serverNode,
    serverFlags,
  );
  console.log(
    `Livewire update round trip (body ${BODY.length} bytes), ms; wiremesh ${server.transport} on Node ${server.node}, ` +
      `pages on Node ${process.version}; ${ROUNDS} rounds, medians over rounds; load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${cpus().length} cores`,
  );
  console.log(
    'RTT ms | pages | samples/round | tunnel p50 / p99 | keep-alive p50 / p99 | tunnel − keep-alive p50 / p99' +
      (COLD ? ' | new connection p50 / p99' : ''),
  );
  try {
    for (const rtt of DELAYS) {
      const proxy =
        rtt > 0 ? await start('proxy', [`--targets=${server.port},${backend.port}`, `--one-way=${rtt / 2}`]) : null;
      const [toServer, toBackend] = proxy ? proxy.ports : [server.port, backend.port];
      for (const c of CONCURRENCY) {
        const count = c === 1 ? N : PER_PAGE;
        const warmup = c === 1 ? 20 : 3;
        const rounds = { tunnel: [], keepAlive: [], cold: [] };
        const modes = {
          tunnel: () => Promise.all(Array.from({ length: c }, (_, i) => tunnelPage(toServer, `p${i}`))),
          keepAlive: () => Array.from({ length: c }, () => httpPage(toBackend, true)),
          cold: () => Array.from({ length: c }, () => httpPage(toBackend, false)),
        };
        for (let r = 0; r < ROUNDS; r++) {
          const order = r % 2 === 0 ? ['tunnel', 'keepAlive'] : ['keepAlive', 'tunnel'];
          if (COLD) order.push('cold');
          for (const mode of order) rounds[mode].push(quantiles(await run(await modes[mode](), warmup, count)));
        }
        const f = (qs) =>
          `${median(qs.map((q) => q.p50)).toFixed(2)} / ${median(qs.map((q) => q.p99)).toFixed(2)}`;
        const diff = (k) => median(rounds.tunnel.map((q, i) => q[k] - rounds.keepAlive[i][k]));
        console.log(
          `${String(rtt).padStart(6)} | ${String(c).padStart(5)} | ${String(c * count).padStart(13)} | ` +
            `${f(rounds.tunnel)} | ${f(rounds.keepAlive)} | ${diff('p50').toFixed(2)} / ${diff('p99').toFixed(2)}` +
            (COLD ? ` | ${f(rounds.cold)}` : ''),
        );
      }
      await proxy?.stop();
    }
  } finally {
    await server.stop();
    await backend.stop();
  }
  console.log(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

const role = arg('role', '');
if (role) await child(role);
else await main();
