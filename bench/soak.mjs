#!/usr/bin/env node
/**
 * Soak test (not in CI): two wiremesh nodes on the mesh driver under steady, churning load for
 * MINUTES, sampling each node's RSS, heap, open fds and event-loop lag every SAMPLE_S seconds and
 * printing the drift per hour at the end (memory growth under steady load is the most common
 * complaint about Laravel Reverb). Build first (`npm run build`).
 *
 *   MINUTES=70 WARMUP_MIN=10 SNAPSHOTS=/tmp/soak node bench/soak.mjs   # the full run
 *   MINUTES=20 node bench/soak.mjs          # default 60 minutes, 10 of them warm-up
 *   MINUTES=2 SAMPLE_S=15 node bench/soak.mjs
 *   MINUTES=0.1 SAMPLE_S=2 CLIENTS=20 node bench/soak.mjs   # seconds: the bench smoke test's run
 *
 * Load, spread over both nodes: CLIENTS sockets of which CHURN_PER_S are closed and replaced each
 * second; PRESENCE_PER_S presence leave + join per second (signed with the `pusher` SDK);
 * API_PER_S events published through the HTTP API (SDK), alternating nodes, to a channel every
 * socket is in; TUNNEL_PER_S Livewire requests through the tunnel to a local backend; webhooks
 * for occupancy and membership to a local sink. All on 127.0.0.1, ports chosen by the OS.
 *
 * The figures leave out the first WARMUP_MIN minutes (default 10, or none for runs under 20
 * minutes): caches, JIT and allocator pools fill there. RSS growth is given as % per hour of the
 * RSS at the end of the warm-up. WIREMESH_NODE runs the nodes on another Node.js (e.g. 24). The
 * nodes get the V8 flags `wiremesh start` gives the ws transport (WIREMESH_REEXEC=off: none).
 * SNAPSHOTS=dir writes a heap snapshot of each node half-way through the warm-up and at the end,
 * and prints what grew between them (bench/heap-diff.mjs).
 */
import { fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Pusher from 'pusher';
import WebSocket from 'ws';
import { WS_V8_FLAGS } from '../dist/src/cli/ws-flags.js';

const env = (name, fallback) => Number(process.env[name] ?? fallback);
const MINUTES = env('MINUTES', 60);
const SAMPLE_S = env('SAMPLE_S', 60);
const CLIENTS = env('CLIENTS', 400);
const CHURN_PER_S = env('CHURN_PER_S', 10);
const PRESENCE_PER_S = env('PRESENCE_PER_S', 10);
const API_PER_S = env('API_PER_S', 20);
const TUNNEL_PER_S = env('TUNNEL_PER_S', 10);
const WARMUP_MIN = env('WARMUP_MIN', MINUTES >= 20 ? 10 : 0);
const SNAPSHOTS = process.env.SNAPSHOTS;

const here = dirname(fileURLToPath(import.meta.url));
const APP = { id: 'soak', key: 'soak-key', secret: randomBytes(32).toString('hex') };
const ORIGIN = 'https://app.soak.test';
const sdk = (port) =>
  new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(port), useTLS: false });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

async function listen(handler) {
  const srv = http.createServer(handler).listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { srv, port: srv.address().port };
}

const counts = {
  received: 0,
  published: 0,
  publishFailed: 0,
  tunnelOk: 0,
  tunnelOther: 0,
  hooks: 0,
  opened: 0,
  closed: 0,
  joins: 0,
  errors: 0,
};

// A Laravel stand-in: /up for health checks, /livewire/update answers like Livewire (JSON).
const backend = await listen((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const json =
      req.url === '/up'
        ? '{"ok":true}'
        : JSON.stringify({ components: [{ snapshot: body.slice(0, 200), effects: { html: 'x'.repeat(2_000) } }] });
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'laravel_session=soak; Path=/; HttpOnly' });
    res.end(json);
  });
});
const sink = await listen((req, res) => {
  req.resume();
  req.on('end', () => {
    counts.hooks++;
    res.end('ok');
  });
});

const secret = randomBytes(32).toString('hex');
const ports = [await freePort(), await freePort()];
const meshPorts = [await freePort(), await freePort()];
const nodes = [];
for (let i = 0; i < 2; i++) {
  const config = {
    host: '127.0.0.1',
    port: ports[i],
    nodeId: `soak-${i}`,
    logLevel: 'warn',
    cluster: {
      driver: 'mesh',
      mesh: { host: '127.0.0.1', port: meshPorts[i], peers: meshPorts.map((p) => `127.0.0.1:${p}`), secret },
    },
    apps: [
      {
        ...APP,
        clientEvents: true,
        maxPresenceMembers: 1000,
        webhooks: [
          {
            url: `http://127.0.0.1:${sink.port}/hook`,
            events: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'],
          },
        ],
        livewire: { backends: [`http://127.0.0.1:${backend.port}`], publicUrl: ORIGIN },
      },
    ],
  };
  const child = fork(join(here, 'soak-node.mjs'), [JSON.stringify(config)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // The V8 flags `wiremesh start` runs the ws transport with (src/cli/ws-flags.ts).
    execArgv: process.env.WIREMESH_REEXEC === 'off' ? [] : [...WS_V8_FLAGS],
    ...(process.env.WIREMESH_NODE ? { execPath: process.env.WIREMESH_NODE } : {}),
  });
  const pending = [];
  child.on('message', (m) => {
    if (m.type === 'sample' || m.type === 'snapshot') pending.shift()?.(m);
  });
  const [ready] = await once(child, 'message');
  if (ready.type !== 'ready') throw new Error(`node ${i} did not start`);
  nodes.push({
    child,
    port: ports[i],
    sample: () => new Promise((resolve) => (pending.push(resolve), child.send({ type: 'sample' }))),
    snapshot: (path) => new Promise((resolve) => (pending.push(resolve), child.send({ type: 'snapshot', path }))),
  });
}

/** One client socket: subscribed to the broadcast channel, maybe in a presence channel. */
class Client {
  constructor(node, n) {
    this.node = node;
    this.n = n;
    this.socketId = null;
    this.presence = null;
    this.open = false;
    this.ws = new WebSocket(`ws://127.0.0.1:${node.port}/app/${APP.key}?protocol=7&client=soak&version=1`, {
      headers: { origin: ORIGIN },
    });
    this.ws.on('error', () => counts.errors++);
    this.ws.on('close', () => {
      this.open = false;
      counts.closed++;
    });
    this.ws.on('message', (data) => this.onFrame(JSON.parse(data.toString())));
  }

  send(frame) {
    if (this.open) this.ws.send(JSON.stringify(frame));
  }

  onFrame(f) {
    if (f.event === 'pusher:connection_established') {
      this.socketId = JSON.parse(f.data).socket_id;
      this.open = true;
      counts.opened++;
      this.send({ event: 'pusher:subscribe', data: { channel: 'soak-broadcast' } });
    } else if (f.event === 'soak-event') counts.received++;
    else if (f.event === 'wiremesh:response') {
      if (f.data.status === 200) counts.tunnelOk++;
      else counts.tunnelOther++;
    } else if (f.event === 'wiremesh:fallback' || f.event === 'pusher:error') counts.tunnelOther++;
    else if (f.event === 'pusher_internal:subscription_succeeded' && f.channel?.startsWith('presence-')) counts.joins++;
  }

  join(room, signer) {
    if (!this.open) return;
    const channel = `presence-soak-${room}`;
    const presenceData = { user_id: `u${this.n}`, user_info: { name: `user ${this.n}` } };
    const auth = signer.authorizeChannel(this.socketId, channel, presenceData);
    this.send({ event: 'pusher:subscribe', data: { channel, auth: auth.auth, channel_data: auth.channel_data } });
    this.presence = channel;
  }

  leave() {
    if (this.presence) this.send({ event: 'pusher:unsubscribe', data: { channel: this.presence } });
    this.presence = null;
  }

  tunnel(seq) {
    this.send({
      event: 'wiremesh:request',
      data: {
        id: `r${seq}`,
        method: 'POST',
        path: '/livewire/update',
        headers: { 'content-type': 'application/json', 'x-livewire': '' },
        body: JSON.stringify({ seq }),
      },
    });
  }

  close() {
    this.ws.close();
  }
}

let serial = 0;
const clients = [];
const spawnClient = () => clients.push(new Client(nodes[serial % 2], serial++));
for (let i = 0; i < CLIENTS; i++) spawnClient();
await sleep(2_000);

const signer = sdk(ports[0]);
const publishers = ports.map(sdk);
const pick = () => clients[Math.floor(Math.random() * clients.length)];
let tick = 0;
let seq = 0;
const every = (perSecond, fn) => {
  for (let i = 0; i < perSecond; i++) fn();
};
const ticker = setInterval(() => {
  tick++;
  // Connection churn: replace CHURN_PER_S random sockets.
  every(CHURN_PER_S, () => {
    const i = Math.floor(Math.random() * clients.length);
    clients[i].close();
    clients.splice(i, 1);
    spawnClient();
  });
  // Presence churn: some leave, others join one of 20 rooms.
  every(PRESENCE_PER_S, () => {
    const c = pick();
    if (c.presence) c.leave();
    else c.join(Math.floor(Math.random() * 20), signer);
  });
  every(TUNNEL_PER_S, () => pick().tunnel(seq++));
  // API publishing, alternating nodes, spread over the second.
  every(API_PER_S, () => {
    const p = publishers[seq++ % 2];
    p.trigger('soak-broadcast', 'soak-event', { tick, at: Date.now() }).then(
      () => counts.published++,
      () => counts.publishFailed++,
    );
  });
}, 1_000);

const samples = [[], []];
const started = Date.now();
const mb = (b) => (b / 1048576).toFixed(1);
console.log(
  `soak: ${MINUTES} min (${WARMUP_MIN} warm-up) on Node ${process.env.WIREMESH_NODE ? 'from WIREMESH_NODE' : process.version}, sample every ${SAMPLE_S} s; ${CLIENTS} clients, churn ${CHURN_PER_S}/s, presence ${PRESENCE_PER_S}/s, api ${API_PER_S}/s, tunnel ${TUNNEL_PER_S}/s`,
);
console.log(
  'min   node  rss MB  anon MB  heap MB  v8 MB  ext MB  fds  lag p99 ms  lag max ms | clients opened closed joins published(failed) received tunnel ok(other) hooks',
);
const deadline = started + MINUTES * 60_000;
const warmedAt = started + WARMUP_MIN * 60_000;
const snapshots = [[], []];
const snapshot = async (label) => {
  if (!SNAPSHOTS) return;
  mkdirSync(SNAPSHOTS, { recursive: true });
  for (let i = 0; i < 2; i++) {
    const { file } = await nodes[i].snapshot(join(SNAPSHOTS, `node${i}-${label}.heapsnapshot`));
    snapshots[i].push(file);
  }
};
let warmed = WARMUP_MIN === 0;
// Writing a snapshot grows the process's RSS for good (the serializer's buffers): the first one
// is taken half-way through the warm-up, so that bump is not counted as drift.
const snapshotAt = started + (WARMUP_MIN * 60_000) / 2;
let snapped = false;
if (warmed) {
  await snapshot('start');
  snapped = true;
}
while (Date.now() < deadline) {
  const next = warmed ? deadline : Math.min(deadline, snapped ? warmedAt : snapshotAt);
  await sleep(Math.min(SAMPLE_S * 1000, Math.max(0, next - Date.now())));
  const minute = ((Date.now() - started) / 60_000).toFixed(1);
  for (let i = 0; i < 2; i++) {
    const s = await nodes[i].sample();
    s.at = Date.now();
    samples[i].push(s);
    const c = counts;
    console.log(
      `${minute.padStart(5)} ${String(i).padStart(4)} ${mb(s.rss).padStart(7)} ${mb(s.rssAnon).padStart(8)} ${mb(s.heapUsed).padStart(8)} ${mb(s.heapTotal).padStart(6)} ${mb(s.external).padStart(7)} ${String(s.fds).padStart(4)} ${s.lagP99Ms.toFixed(1).padStart(11)} ${s.lagMaxMs.toFixed(1).padStart(11)} |` +
        (i === 0
          ? ` ${clients.length} ${c.opened} ${c.closed} ${c.joins} ${c.published}(${c.publishFailed}) ${c.received} ${c.tunnelOk}(${c.tunnelOther}) ${c.hooks}`
          : ''),
    );
  }
  if (!snapped && Date.now() >= snapshotAt) {
    snapped = true;
    await snapshot('warm');
  }
  if (!warmed && Date.now() >= warmedAt) {
    warmed = true;
    for (const l of samples) l.length = 0;
    for (let i = 0; i < 2; i++) {
      const s = await nodes[i].sample();
      s.at = Date.now();
      samples[i].push(s);
    }
    console.log(`  -- warm-up over at ${((Date.now() - started) / 60_000).toFixed(1)} min: figures count from here`);
  }
}
await snapshot('end');
clearInterval(ticker);

/** Least-squares slope per hour of `key` over the samples after the warm-up (after the first one when there is none). */
function driftPerHour(list, key) {
  const xs = WARMUP_MIN > 0 ? list : list.slice(1);
  if (xs.length < 2) return NaN;
  const t0 = xs[0].at;
  const x = xs.map((s) => (s.at - t0) / 3_600_000);
  const y = xs.map((s) => s[key]);
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i] - mx) * (y[i] - my);
    den += (x[i] - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(
  `\ndrift per hour (least squares over the samples ${WARMUP_MIN > 0 ? `after the ${WARMUP_MIN}-minute warm-up` : 'after the first'}):`,
);
for (let i = 0; i < 2; i++) {
  const l = samples[i];
  const base = (WARMUP_MIN > 0 ? l[0] : (l[1] ?? l[0]))?.rss ?? NaN;
  const rssPerHour = driftPerHour(l, 'rss');
  console.log(
    `node ${i}: rss ${mb(rssPerHour)} MB/h (${((100 * rssPerHour) / base).toFixed(2)} %/h of ${mb(base)} MB; anonymous ${mb(driftPerHour(l, 'rssAnon'))}, file ${mb(driftPerHour(l, 'rssFile'))}), heap ${mb(driftPerHour(l, 'heapUsed'))} MB/h (V8 committed ${mb(driftPerHour(l, 'heapTotal'))}), external ${mb(driftPerHour(l, 'external'))} MB/h, fds ${driftPerHour(l, 'fds').toFixed(1)}/h; ` +
      `lag p99 median ${median(l.map((s) => s.lagP99Ms)).toFixed(1)} ms, worst ${Math.max(...l.map((s) => s.lagP99Ms)).toFixed(1)} ms, max ${Math.max(...l.map((s) => s.lagMaxMs)).toFixed(1)} ms`,
  );
}
if (SNAPSHOTS) {
  const { summarize, diff } = await import('./heap-diff.mjs');
  for (let i = 0; i < 2; i++) {
    const [a, b] = snapshots[i];
    if (!a || !b) continue;
    const d = diff(summarize(a), summarize(b));
    console.log(
      `\nnode ${i} heap between snapshots: ${(d.total / 1024).toFixed(1)} KiB, ${d.count} objects; largest growth:`,
    );
    for (const r of d.rows.sort((x, y) => y.size - x.size).slice(0, 12))
      console.log(`${(r.size / 1024).toFixed(1).padStart(10)} KiB | ${String(r.count).padStart(7)} | ${r.name}`);
  }
}

for (const c of clients) c.close();
await sleep(500);
for (const n of nodes) n.child.send({ type: 'stop' });
const exits = await Promise.all(nodes.map((n) => once(n.child, 'exit')));
backend.srv.closeAllConnections();
backend.srv.close();
sink.srv.closeAllConnections();
sink.srv.close();
// A node that failed to stop (exit code ≠ 0) fails the soak: its log line says why.
const failed = exits.map(([code], i) => ({ i, code })).filter((e) => e.code !== 0);
if (failed.length > 0) {
  console.error(`soak: node(s) ${failed.map((e) => `${e.i} exited ${e.code}`).join(', ')}`);
  process.exit(1);
}
console.log('soak: both nodes stopped cleanly');
