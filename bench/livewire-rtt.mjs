#!/usr/bin/env node
/**
 * Round-trip latency of a Livewire-sized update: over the wiremesh socket (tunnel) vs plain HTTP
 * keep-alive to the same backend, measured in the same run. Runs against dist/ (build first).
 *
 *   node bench/livewire-rtt.mjs [--concurrency=1,100] [--delays=0,40,150] [--rounds=5] [--n=200]
 *                               [--per-page=20] [--transport=ws|uws|auto] [--cold] [--before=<dist>]
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
 * of the per-round difference to keep-alive), and wiremesh's CPU time per tunnelled request (its
 * process's, over the tunnel's turns, connects and warm-up included). `--cold` adds HTTP on a new
 * connection per request (its row: "new connection"). `--before=<path to another build's dist/>` runs
 * that build as a second wiremesh in the same rounds (row "before"), each row against the same
 * keep-alive samples. `--relay` adds keep-alive through a process that only pipes the bytes (no
 * parsing): what one more process on the path costs at least on this machine.
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
/** The rows' names: the tunnel of this build, of the `--before` build, and the HTTP references. */
const ROW = { tunnel: 'this', before: 'before', cold: 'HTTP new connection', relay: 'keep-alive via a TCP relay' };

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
    const dist = arg('dist', new URL('../dist', import.meta.url).pathname);
    const { validateConfig } = await import(`${dist}/src/config/validate.js`);
    const { createLogger } = await import(`${dist}/src/log/logger.js`);
    const { startServer } = await import(`${dist}/src/server.js`);
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
  } else if (role === 'relay') {
    // The least one more process on the path can cost: bytes piped through, nothing parsed.
    const net = await import('node:net');
    const relay = net.createServer({ noDelay: true }, (client) => {
      const upstream = net.connect({ port: Number(arg('target', '0')), host: '127.0.0.1', noDelay: true });
      client.pipe(upstream).on('error', () => client.destroy());
      upstream.pipe(client).on('error', () => upstream.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    ready = { port: relay.address().port };
  } else if (role === 'proxy') {
    const { delayProxy } = await import('./delay-proxy.mjs');
    const oneWay = Number(arg('one-way', '0'));
    const ports = [];
    for (const target of arg('targets', '').split(',').map(Number)) ports.push((await delayProxy(target, oneWay)).port);
    ready = { ports };
  } else throw new Error(`unknown role ${role}`);
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  // Each line asks for the process's CPU time so far (microseconds: user + system, then user).
  createInterface({ input: process.stdin }).on('line', () => {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`cpu ${user + system} ${user}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
}

/** Starts a child role; resolves with its ready line and a stop function. */
async function start(role, args, node = process.execPath, flags = []) {
  const proc = spawn(node, [...flags, HERE, `--role=${role}`, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  // Its ready line and its answers; anything else it prints (e.g. --trace-gc) goes to stderr.
  const lines = createInterface({ input: proc.stdout });
  const answers = [];
  lines.on('line', (l) => {
    if (l.startsWith('{') || l.startsWith('cpu ')) answers.shift()?.(l);
    else process.stderr.write(`[${role}] ${l}\n`);
  });
  const answer = () => new Promise((resolve) => answers.push(resolve));
  const timer = setTimeout(() => proc.kill('SIGKILL'), START_TIMEOUT_MS);
  const line = await Promise.race([
    answer(),
    once(proc, 'exit').then(([code]) => Promise.reject(new Error(`${role} exited (${code}) before it was ready`))),
  ]);
  clearTimeout(timer);
  /** The child's CPU time so far, in microseconds: user + system, and user alone. */
  const cpu = async () => {
    const answered = answer();
    proc.stdin.write('cpu\n');
    const [total, user] = (await answered).slice(4).split(' ').map(Number);
    return { total, user };
  };
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = once(proc, 'exit');
    proc.stdin.end();
    const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  };
  return { ...JSON.parse(line), cpu, stop };
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
  const RELAY = process.argv.includes('--relay');
  const BEFORE = arg('before', '');
  const serverNode = process.env.WIREMESH_NODE ?? process.execPath;
  const serverFlags = (process.env.WIREMESH_NODE_FLAGS ?? '').split(' ').filter(Boolean);

  const backend = await start('backend', []);
  const serverArgs = [`--backend=${backend.port}`, `--transport=${arg('transport', 'ws')}`];
  const server = await start('server', serverArgs, serverNode, serverFlags);
  // Another build of wiremesh (its dist/ folder) measured in the same run, e.g. before a change.
  const before = BEFORE ? await start('server', [...serverArgs, `--dist=${BEFORE}`], serverNode, serverFlags) : null;
  const relay = RELAY ? await start('relay', [`--target=${backend.port}`], serverNode) : null;
  console.log(
    `Livewire update round trip (body ${BODY.length} bytes), ms; wiremesh ${server.transport} on Node ${server.node}, ` +
      `pages on Node ${process.version}; ${ROUNDS} rounds, medians over rounds; load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${cpus().length} cores`,
  );
  console.log(
    'RTT ms | pages | samples/round | row | p50 / p99 | keep-alive p50 / p99 | ' +
      'row − keep-alive p50 / p99 | wiremesh CPU µs per request (user alone)',
  );
  try {
    for (const rtt of DELAYS) {
      const targets = [server.port, backend.port, before?.port ?? 0, relay?.port ?? 0];
      const proxy = rtt > 0 ? await start('proxy', [`--targets=${targets.join(',')}`, `--one-way=${rtt / 2}`]) : null;
      const [toServer, toBackend, toBefore, toRelay] = proxy ? proxy.ports : targets;
      for (const c of CONCURRENCY) {
        const count = c === 1 ? N : PER_PAGE;
        const warmup = c === 1 ? 20 : 3;
        const tunnelTo = (port) => () => Promise.all(Array.from({ length: c }, (_, i) => tunnelPage(port, `p${i}`)));
        const modes = {
          tunnel: { pages: tunnelTo(toServer), wiremesh: server },
          ...(before ? { before: { pages: tunnelTo(toBefore), wiremesh: before } } : {}),
          keepAlive: { pages: () => Array.from({ length: c }, () => httpPage(toBackend, true)) },
          ...(COLD ? { cold: { pages: () => Array.from({ length: c }, () => httpPage(toBackend, false)) } } : {}),
          ...(RELAY ? { relay: { pages: () => Array.from({ length: c }, () => httpPage(toRelay, true)) } } : {}),
        };
        const names = Object.keys(modes);
        const rounds = Object.fromEntries(names.map((m) => [m, []]));
        const cpu = Object.fromEntries(names.map((m) => [m, []]));
        const cpuUser = Object.fromEntries(names.map((m) => [m, []]));
        for (let r = 0; r < ROUNDS; r++) {
          // Each mode goes first in turn.
          const order = names.map((_, i) => names[(i + r) % names.length]);
          for (const mode of order) {
            const { pages, wiremesh } = modes[mode];
            const cpuBefore = wiremesh ? await wiremesh.cpu() : undefined;
            rounds[mode].push(quantiles(await run(await pages(), warmup, count)));
            if (wiremesh && cpuBefore) {
              const cpuAfter = await wiremesh.cpu();
              const requests = c * (warmup + count);
              cpu[mode].push((cpuAfter.total - cpuBefore.total) / requests);
              cpuUser[mode].push((cpuAfter.user - cpuBefore.user) / requests);
            }
          }
        }
        const f = (qs) => `${median(qs.map((q) => q.p50)).toFixed(2)} / ${median(qs.map((q) => q.p99)).toFixed(2)}`;
        const diff = (mode, k) => median(rounds[mode].map((q, i) => q[k] - rounds.keepAlive[i][k]));
        const cell = `${String(rtt).padStart(6)} | ${String(c).padStart(5)} | ${String(c * count).padStart(13)}`;
        for (const mode of names) {
          if (mode === 'keepAlive') continue;
          const cpuCell = cpu[mode].length
            ? `${median(cpu[mode]).toFixed(0)} (user ${median(cpuUser[mode]).toFixed(0)})`
            : '-';
          console.log(
            `${cell} | ${ROW[mode]} | ` +
              `${f(rounds[mode])} | ${f(rounds.keepAlive)} | ${diff(mode, 'p50').toFixed(2)} / ${diff(mode, 'p99').toFixed(2)} | ${cpuCell}`,
          );
        }
      }
      await proxy?.stop();
    }
  } finally {
    await server.stop();
    await before?.stop();
    await relay?.stop();
    await backend.stop();
  }
  console.log(
    `load after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

const role = arg('role', '');
if (role) await child(role);
else await main();
