#!/usr/bin/env node
/**
 * Idle capacity (a benchmark scenario, not a CI test): N subscribed WebSocket connections on one
 * host, then one broadcast to all of them. Starts `wiremesh start` with WORKERS worker processes,
 * opens N connections from CLIENT_PROCS client processes (bench/capacity-client.mjs), each socket
 * bound to one of SOURCES loopback addresses 127.0.0.2… (ephemeral ports are per source address),
 * every socket on one big public channel and every OWN_EVERY-th also on its own private channel.
 * Measures: the time until all are connected and all subscribed; the server processes' RSS (sum
 * and per connection) and the kernel's socket memory (/proc/net/sockstat, /proc/meminfo Slab,
 * /proc/slabinfo as root) before and after; then one event through the HTTP API to the big
 * channel: the time until every socket has it. All the while `/health` and a signed HTTP API
 * publish are probed every 500 ms (max latency, failures). Prints a table and one JSON line.
 *
 *   sh bench/capacity-setup.sh               # as root, once: kernel limits (prints what it changed)
 *   npm run build && WIREMESH_NODE=$(npx -y node@24 -p process.execPath) node bench/capacity.mjs
 *   N=100000 WORKERS=6 CLIENT_PROCS=6 SOURCES=8 TRANSPORT=ws node bench/capacity.mjs    # the defaults
 *   N=200 WORKERS=2 CLIENT_PROCS=2 SOURCES=2 node bench/capacity.mjs                     # seconds
 *
 *   WIREMESH_NODE=/path/to/node   the server's Node.js (default: this one)
 *   TRANSPORT=ws|uws|auto         the server's transport (default ws)
 *   NATIVE_ROOT=/path/to/rootfs   run the server chrooted in that root filesystem (a Debian 13 root,
 *                                 for the native transport on a host whose glibc is older than 2.38):
 *                                 as root, in a private mount namespace, this repository bind-mounted
 *                                 on its /mnt and WIREMESH_NODE's folder on its /opt (both must be empty)
 *   CONCURRENCY=100               handshakes in flight per client process
 *   OWN_EVERY=2                   every OWN_EVERY-th socket also subscribes to private-user-<i> (0: none)
 *   CONNECT_TIMEOUT_S=600         give up connecting after that long, or after 60 s without progress
 *   SETTLE_S=10                   pause after the last subscription before the memory is read
 *   BROADCASTS=1                  broadcasts to everybody, 1 s apart (the table shows the first
 *                                 and the median of all)
 *   PROFILE_DIR=/path             CPU profiles of the server's and the clients' processes there
 *                                 (then: node bench/profile-summary.mjs PROFILE_DIR/*.cpuprofile)
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const N = env('N', 100_000);
const WORKERS = env('WORKERS', 6);
const CLIENT_PROCS = env('CLIENT_PROCS', 6);
const SOURCES = env('SOURCES', 8);
const CONCURRENCY = env('CONCURRENCY', 100);
const OWN_EVERY = env('OWN_EVERY', 2);
const CONNECT_TIMEOUT_S = env('CONNECT_TIMEOUT_S', 600);
const SETTLE_S = env('SETTLE_S', 10);
const BROADCASTS = env('BROADCASTS', 1);
const TRANSPORT = process.env.TRANSPORT ?? 'ws';
const NODE = process.env.WIREMESH_NODE ?? process.execPath;
const NATIVE_ROOT = process.env.NATIVE_ROOT ?? '';
const PROFILE_DIR = process.env.PROFILE_DIR ?? '';
const profileFlags = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
const APP = { id: 'capacity', key: 'capacity-key', secret: randomBytes(24).toString('hex') };
const BIG = 'capacity-all';
const EVENT = 'capacity-broadcast';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => process.stderr.write(`[capacity +${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`);
const T0 = Date.now();

// ---- what the host allows ----
const sources = Array.from({ length: SOURCES }, (_, i) => `127.0.0.${i + 2}`);
const [lo] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
const perProc = Math.ceil(N / CLIENT_PROCS);
// Client source ports, chosen by the clients (capacity-client.mjs says why): socket i binds
// sources[i % SOURCES]:SOURCE_PORT_BASE + ⌊i / SOURCES⌋; then SPARE_PORTS per client process for
// ports another program holds on an address. All below the ephemeral range, which is left to the
// host's own outgoing connections (and holds the server's and mesh ports: see freePortRun).
const SOURCE_PORT_BASE = env('SOURCE_PORT_BASE', 10_000);
const SPARE_PORTS = 500;
const sourcePortsEnd = SOURCE_PORT_BASE + Math.ceil(N / SOURCES) + CLIENT_PROCS * SPARE_PORTS;
const nofile = Number(spawnText('sh', ['-c', 'ulimit -n']));
const problems = [];
if (sourcePortsEnd > lo - 100 * (WORKERS + 1))
  problems.push(
    `${Math.ceil(N / SOURCES)} sockets per source address from port ${SOURCE_PORT_BASE} reach the ephemeral range (${lo}): raise SOURCES`,
  );
if (perProc + 100 > nofile)
  problems.push(`${perProc} sockets per client process, ulimit -n ${nofile}: raise CLIENT_PROCS`);
if (Math.ceil(N / WORKERS) * 1.1 > nofile * 0.95)
  problems.push(`~${Math.ceil(N / WORKERS)} sockets per worker, ${Math.floor(nofile * 0.95)} allowed: raise WORKERS`);
if (NATIVE_ROOT && process.getuid?.() !== 0) problems.push('NATIVE_ROOT needs root (chroot, mount namespace)');
if (problems.length > 0) {
  console.error(`capacity: this host cannot run N=${N}:\n  ${problems.join('\n  ')}`);
  process.exit(2);
}

function spawnText(cmd, args) {
  return spawnSync(cmd, args).stdout.toString().trim();
}

/**
 * `n` consecutive free ports below the ephemeral range (the clients' 100,000 source ports are
 * drawn from that range: a server or mesh port there could be taken by the time it binds).
 */
async function freePortRun(n) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = sourcePortsEnd + Math.floor(Math.random() * (lo - sourcePortsEnd - n));
    const servers = [];
    try {
      for (let i = 0; i < n; i++) {
        const srv = net.createServer();
        await new Promise((resolve, reject) => srv.once('error', reject).listen(base + i, '127.0.0.1', resolve));
        servers.push(srv);
      }
      return base;
    } catch {
      // taken: try another run
    } finally {
      for (const srv of servers) srv.close();
    }
  }
  throw new Error('no run of free ports found');
}

// ---- kernel and process memory ----
function kernelMemory() {
  const sockstat = readFileSync('/proc/net/sockstat', 'utf8');
  const tcp = /TCP: inuse (\d+) orphan \d+ tw \d+ alloc (\d+) mem (\d+)/.exec(sockstat);
  const slab = Number(/^Slab:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN) * 1024;
  const caches = {};
  try {
    for (const line of readFileSync('/proc/slabinfo', 'utf8').split('\n').slice(2)) {
      const [name, , numObjs, objSize] = line.split(/\s+/);
      if (
        /^(TCP|tcp_bind_bucket|tcp_bind2_bucket|sock_inode_cache|eventpoll_epi|eventpoll_pwq|filp|dentry|skbuff_head_cache)$/.test(
          name,
        )
      )
        caches[name] = Number(numObjs) * Number(objSize);
    }
  } catch {
    // /proc/slabinfo is root-only; the Slab total from /proc/meminfo stays.
  }
  return {
    tcpInuse: Number(tcp?.[1]),
    tcpAlloc: Number(tcp?.[2]),
    tcpMemBytes: Number(tcp?.[3]) * 4096,
    slabBytes: slab,
    caches,
  };
}

function children(pid) {
  const out = [];
  let tasks = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/))
        if (c) out.push(Number(c));
    } catch {
      // the task ended meanwhile
    }
  }
  return out;
}

/** The server's node processes under `pid` (the supervisor first), with their memory in bytes. */
function serverProcesses(pid) {
  const all = [];
  const walk = (p) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
      // Node 24 names its main thread (the process's comm) MainThread.
      if (!/^Name:\s+(sh|unshare|chroot)$/m.test(status))
        all.push({ pid: p, rss: kb('VmRSS'), anon: kb('RssAnon'), pss: pssOf(p), cpu: cpuSeconds(p) });
    } catch {
      return;
    }
    for (const c of children(p)) walk(c);
  };
  walk(pid);
  return all;
}

/**
 * Proportional set size in bytes: the process's private pages plus its share of pages mapped by
 * several (the node binary's code is in every worker's RSS; summed RSS counts it once per worker).
 */
function pssOf(pid) {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds of a process (its own threads; not its exited children). */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

function memorySum(procs) {
  return procs.reduce((s, p) => ({ rss: s.rss + p.rss, anon: s.anon + p.anon, pss: s.pss + p.pss }), {
    rss: 0,
    anon: 0,
    pss: 0,
  });
}

// ---- HTTP: health and a signed publish ----
function request(port, method, path, body, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const done = (status, error) => resolve({ status, error, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode, null));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => done(0, err.message));
    req.end(body);
  });
}

function publish(port, channel, name, data) {
  const body = JSON.stringify({ name, channel, data: JSON.stringify(data) });
  const path = `/apps/${APP.id}/events`;
  const query = `auth_key=${APP.key}&auth_timestamp=${Math.floor(Date.now() / 1000)}&auth_version=1.0&body_md5=${createHash('md5').update(body).digest('hex')}`;
  const sig = createHmac('sha256', APP.secret).update(`POST\n${path}\n${query}`).digest('hex');
  return request(port, 'POST', `${path}?${query}&auth_signature=${sig}`, body);
}

/** What the probes are measured against: `connect` until every socket subscribed, then `loaded`. */
let phase = 'connect';

class Probe {
  constructor(name, fn) {
    Object.assign(this, { name, fn, inFlight: 0 });
    this.phases = {};
  }
  tick() {
    this.inFlight++;
    const p = (this.phases[phase] ??= { times: [], failures: 0, firstFailure: '' });
    this.fn().then((r) => {
      this.inFlight--;
      p.times.push(r.ms);
      if (r.status < 200 || r.status > 299) {
        p.failures++;
        if (!p.firstFailure) p.firstFailure = `${r.status} ${r.error ?? ''}`.trim();
      }
    });
  }
  get failures() {
    return Object.values(this.phases).reduce((s, p) => s + p.failures, 0);
  }
  /** Per phase: count, failures, p50, p99 and max latency. */
  summary() {
    const out = {};
    for (const [name, p] of Object.entries(this.phases)) {
      const t = [...p.times].sort((a, b) => a - b);
      out[name] = {
        count: t.length,
        failures: p.failures,
        p50_ms: round(t[Math.floor(t.length / 2)] ?? NaN),
        p99_ms: round(t[Math.floor(t.length * 0.99)] ?? NaN),
        max_ms: round(t[t.length - 1] ?? NaN),
        ...(p.firstFailure ? { first_failure: p.firstFailure } : {}),
      };
    }
    return out;
  }
}
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

// ---- the server ----
const port = await freePortRun(WORKERS + 1);
const meshPort = port + 1; // the workers' loopback mesh: meshPort … meshPort + WORKERS - 1
const config = {
  host: '127.0.0.1',
  port,
  workers: WORKERS,
  transport: TRANSPORT,
  logLevel: 'warn',
  cluster: { mesh: { port: meshPort } },
  limits: { maxConnectionsPerIp: 0 },
  apps: [APP],
};
const configDir = mkdtempSync(join(NATIVE_ROOT ? join(NATIVE_ROOT, 'tmp') : tmpdir(), 'wiremesh-capacity-'));
const configFile = join(configDir, 'config.json');
writeFileSync(configFile, JSON.stringify(config));
let server;
if (NATIVE_ROOT) {
  for (const d of ['mnt', 'opt'])
    if (!existsSync(join(NATIVE_ROOT, d)) || readdirSync(join(NATIVE_ROOT, d)).length > 0)
      throw new Error(`${NATIVE_ROOT}/${d} must be an empty folder (the mount point)`);
  const script = [
    'set -e',
    `mount --bind "$1" "$3/mnt"`,
    `mount --bind "$(dirname "$2")" "$3/opt"`,
    `mount -t proc proc "$3/proc"`,
    `exec chroot "$3" /opt/"$(basename "$2")" /mnt/bin/wiremesh.js start --config "$4"`,
  ].join('\n');
  server = spawn(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      script,
      'sh',
      root,
      NODE,
      NATIVE_ROOT,
      configFile.slice(NATIVE_ROOT.length),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
} else {
  server = spawn(NODE, [...profileFlags, join(root, 'bin/wiremesh.js'), 'start', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
}
let serverLog = '';
server.stdout.on('data', (d) => (serverLog += d));
server.stderr.on('data', (d) => (serverLog += d));
const serverExit = once(server, 'exit');
let serverGone = false;
serverExit.then(() => (serverGone = true));

const clients = [];
async function cleanup() {
  for (const c of clients) if (c.child.connected) c.child.send({ type: 'stop' });
  await Promise.race([Promise.all(clients.map((c) => c.exited)), sleep(10_000)]);
  for (const c of clients) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  if (!serverGone) {
    // The supervisor drains its workers on SIGTERM; the process group is killed if it hangs.
    const sup = serverProcesses(server.pid)[0]?.pid ?? server.pid;
    process.kill(sup, 'SIGTERM');
    const stopped = await Promise.race([serverExit.then(() => true), sleep(30_000).then(() => false)]);
    if (!stopped) {
      log('server did not stop in 30 s: killing its process group');
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {}
      await serverExit;
    }
  }
  rmSync(configDir, { recursive: true, force: true });
}
async function fail(msg) {
  log(`FAILED: ${msg}`);
  if (serverLog) log(`server output (tail):\n${serverLog.slice(-3000)}`);
  await cleanup();
  process.exit(1);
}
process.on('SIGINT', () => fail('interrupted'));

const kernelBefore = kernelMemory();
for (let i = 0; ; i++) {
  if (serverGone) await fail('the server exited while starting');
  const r = await request(port, 'GET', '/ready', null, 2_000);
  if (r.status === 200 && serverProcesses(server.pid).length >= WORKERS + (WORKERS > 1 ? 1 : 0)) break;
  if (i > 600) await fail('the server did not become ready in 60 s');
  await sleep(100);
}
// The workers' mesh links form after they listen: wait until a publish is accepted by each.
await sleep(2_000);
const idleProcs = serverProcesses(server.pid);
const idle = memorySum(idleProcs);
log(
  `server ready on ${port}: ${TRANSPORT}, ${idleProcs.length} node processes, RSS ${mib(idle.rss)} MiB; ` +
    `${N} sockets from ${CLIENT_PROCS} client processes over ${SOURCES} source addresses`,
);

function mib(b) {
  return (b / 1048576).toFixed(1);
}

// ---- probes ----
const probes = [
  new Probe('health', () => request(port, 'GET', '/health')),
  new Probe('publish', () => publish(port, 'capacity-probe', 'probe', { at: Date.now() })),
];
const probeTimer = setInterval(() => probes.forEach((p) => p.tick()), 500);

// ---- the clients ----
for (let i = 0; i < CLIENT_PROCS; i++) {
  const from = i * perProc;
  const to = Math.min(N, from + perProc);
  const child = fork(
    join(here, 'capacity-client.mjs'),
    [
      JSON.stringify({
        port,
        from,
        to,
        sources,
        portBase: SOURCE_PORT_BASE,
        spareFrom: sourcePortsEnd - (CLIENT_PROCS - i) * SPARE_PORTS,
        spareTo: sourcePortsEnd - (CLIENT_PROCS - i - 1) * SPARE_PORTS,
        concurrency: CONCURRENCY,
        ownEvery: OWN_EVERY,
        key: APP.key,
        secret: APP.secret,
        bigChannel: BIG,
        event: EVENT,
      }),
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: profileFlags },
  );
  const c = { child, progress: null, replies: [], exited: once(child, 'exit') };
  child.on('message', (m) => {
    if (m.type === 'progress') c.progress = m;
    else if (m.type !== 'ready') c.replies.shift()?.(m);
  });
  await once(child, 'message');
  clients.push(c);
}
const ask = (c, type) => new Promise((resolve) => (c.replies.push(resolve), c.child.send({ type })));
const total = (k) => clients.reduce((s, c) => s + (c.progress?.[k] ?? 0), 0);

const connectStart = Date.now();
const cpuStart = serverProcesses(server.pid);
const clientCpuStart = clients.map((c) => cpuSeconds(c.child.pid));
for (const c of clients) c.child.send({ type: 'start' });
let lastProgress = { at: Date.now(), value: -1 };
let lastLog = 0;
while (total('subscribed') < N) {
  await sleep(250);
  const value = total('opened') + total('subscribed') + total('errors') + total('closed');
  if (value !== lastProgress.value) lastProgress = { at: Date.now(), value };
  if (Date.now() - lastLog > 5_000) {
    lastLog = Date.now();
    const procs = serverProcesses(server.pid);
    log(
      `opened ${total('opened')}, subscribed ${total('subscribed')}, errors ${total('errors')}, closed ${total('closed')} ` +
        `(refused ${total('refused')}); server RSS ${mib(memorySum(procs).rss)} MiB; per worker ${procs
          .slice(1)
          .map((p) => mib(p.rss))
          .join(' ')}`,
    );
  }
  if (serverGone) await fail('the server exited while clients connected');
  if (Date.now() - lastProgress.at > 60_000 || Date.now() - connectStart > CONNECT_TIMEOUT_S * 1000) break;
}
const lastOf = (k) => Math.max(...clients.map((c) => c.progress?.[k] || Infinity));
const connected = {
  opened: total('opened'),
  subscribed: total('subscribed'),
  errors: total('errors'),
  closed: total('closed'),
  source_port_retries: total('retried'),
};
const connectMs = Number.isFinite(lastOf('openedAt')) ? lastOf('openedAt') - connectStart : null;
const subscribeMs = Number.isFinite(lastOf('subscribedAt')) ? lastOf('subscribedAt') - connectStart : null;
const firstError = clients.map((c) => c.progress?.error).find((e) => e);
log(
  `connect phase: ${JSON.stringify(connected)}; all connected in ${connectMs} ms, all subscribed in ${subscribeMs} ms` +
    (firstError ? `; first error: ${firstError}` : ''),
);

const cpuEnd = serverProcesses(server.pid);
const clientCpuEnd = clients.map((c) => cpuSeconds(c.child.pid));
const cpuOf = (list, pid) => list.find((p) => p.pid === pid)?.cpu ?? 0;
const supervisorCpu = WORKERS > 1 ? cpuOf(cpuEnd, server.pid) - cpuOf(cpuStart, server.pid) : 0;
const serverCpu = cpuEnd.reduce((s, p) => s + p.cpu - cpuOf(cpuStart, p.pid), 0);
const clientCpu = clientCpuEnd.reduce((s, c, i) => s + c - clientCpuStart[i], 0);
phase = 'loaded';
await sleep(SETTLE_S * 1000);
const loadedProcs = serverProcesses(server.pid);
const loaded = memorySum(loadedProcs);
const kernelLoaded = kernelMemory();

// ---- broadcasts to everybody (BROADCASTS rounds, 1 s apart) ----
const want = connected.subscribed;
const rounds = [];
let clientRss = 0;
for (let r = 0; r < BROADCASTS; r++) {
  if (r > 0) await sleep(1_000);
  const cpuStart = serverProcesses(server.pid);
  const clientCpuStart = clients.map((c) => cpuSeconds(c.child.pid));
  const bcastAt = Date.now();
  const bcast = await publish(port, BIG, EVENT, { at: bcastAt });
  while (total('received') < want * (r + 1) && Date.now() - bcastAt < 120_000) await sleep(50);
  const cpuEnd = serverProcesses(server.pid);
  const clientCpuEnd = clients.map((c) => cpuSeconds(c.child.pid));
  const replies = await Promise.all(clients.map((c) => ask(c, 'received')));
  const times = replies.flatMap((x) => x.times).sort((x, y) => x - y);
  clientRss = replies.reduce((sum, x) => sum + x.memory, 0);
  const at = (q) => (times.length ? times[Math.min(times.length - 1, Math.floor(times.length * q))] - bcastAt : null);
  rounds.push({
    http_status: bcast.status,
    http_ms: round(bcast.ms),
    received: times.length,
    expected: want,
    first_ms: at(0),
    p50_ms: at(0.5),
    p99_ms: at(0.99),
    all_ms: times.length === want ? times[times.length - 1] - bcastAt : null,
    // CPU from the publish until the last client counted it (sampled every 50 ms, 10 ms ticks).
    server_cpu_ms: Math.round(cpuEnd.reduce((sum, x) => sum + x.cpu - cpuOf(cpuStart, x.pid), 0) * 1000),
    clients_cpu_ms: Math.round(clientCpuEnd.reduce((sum, c, i) => sum + c - clientCpuStart[i], 0) * 1000),
  });
}
const broadcast = rounds[0];
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
await sleep(1_000);
clearInterval(probeTimer);
while (probes.some((p) => p.inFlight > 0)) await sleep(50);
const afterProcs = serverProcesses(server.pid);

const kib = (b) => round(b / 1024, 2);
const cacheDelta = Object.fromEntries(
  Object.keys(kernelLoaded.caches).map((k) => [k, kib(kernelLoaded.caches[k] - (kernelBefore.caches[k] ?? 0))]),
);
const n = connected.subscribed || 1;
const summary = {
  scenario: 'capacity',
  transport: TRANSPORT,
  native_root: NATIVE_ROOT ? true : undefined,
  node: spawnText(NODE, ['-p', 'process.version']),
  n: N,
  workers: WORKERS,
  client_procs: CLIENT_PROCS,
  sources: SOURCES,
  own_channels: OWN_EVERY > 0 ? Math.ceil(N / OWN_EVERY) : 0,
  connected,
  connect_all_ms: connectMs,
  subscribe_all_ms: subscribeMs,
  connect_per_s: subscribeMs ? Math.round(connected.subscribed / (subscribeMs / 1000)) : null,
  connect_cpu: {
    server_s: round(serverCpu, 2),
    supervisor_s: round(supervisorCpu, 2),
    server_us_per_conn: Math.round((serverCpu * 1e6) / (connected.subscribed || 1)),
    clients_s: round(clientCpu, 2),
  },
  server: {
    processes: loadedProcs.length,
    rss_idle_mib: Number(mib(idle.rss)),
    rss_loaded_mib: Number(mib(loaded.rss)),
    rss_after_broadcast_mib: Number(mib(memorySum(afterProcs).rss)),
    rss_per_worker_mib: loadedProcs.slice(WORKERS > 1 ? 1 : 0).map((p) => Number(mib(p.rss))),
    rss_kib_per_conn: kib(loaded.rss / n),
    rss_delta_kib_per_conn: kib((loaded.rss - idle.rss) / n),
    anon_delta_kib_per_conn: kib((loaded.anon - idle.anon) / n),
    pss_idle_mib: Number(mib(idle.pss)),
    pss_loaded_mib: Number(mib(loaded.pss)),
    pss_kib_per_conn: kib(loaded.pss / n),
  },
  kernel: {
    tcp_inuse: kernelLoaded.tcpInuse,
    tcp_mem_delta_kib: kib(kernelLoaded.tcpMemBytes - kernelBefore.tcpMemBytes),
    slab_delta_kib_per_conn: kib((kernelLoaded.slabBytes - kernelBefore.slabBytes) / n),
    slab_caches_delta_kib: cacheDelta,
  },
  client_rss_mib: Number(mib(clientRss)),
  server_warnings: serverWarnings(),
  broadcast,
  ...(rounds.length > 1
    ? {
        broadcasts: {
          all_ms: rounds.map((x) => x.all_ms),
          median_all_ms: median(rounds.map((x) => x.all_ms ?? Infinity)),
          median_server_cpu_ms: median(rounds.map((x) => x.server_cpu_ms)),
        },
      }
    : {}),
  probes: Object.fromEntries(probes.map((p) => [p.name, p.summary()])),
};

/** The server's warn and error lines (JSON logs), counted by message. */
function serverWarnings() {
  const out = {};
  for (const line of serverLog.split('\n')) {
    try {
      const { level, msg } = JSON.parse(line);
      if (level >= 40) out[msg] = (out[msg] ?? 0) + 1;
    } catch {
      // not a log line
    }
  }
  return out;
}

const row = (k, v) => console.log(`${k.padEnd(44)} | ${v}`);
console.log(
  `\ncapacity: ${N} sockets, ${TRANSPORT}${NATIVE_ROOT ? ' (chrooted)' : ''}, ${WORKERS} workers, node ${summary.node}`,
);
row('connected / subscribed / errors', `${connected.opened} / ${connected.subscribed} / ${connected.errors}`);
row('all connected, all subscribed (s)', `${connectMs / 1000} / ${subscribeMs / 1000}`);
row(
  'connect phase CPU: server (supervisor), clients (s)',
  `${summary.connect_cpu.server_s} (${summary.connect_cpu.supervisor_s}), ${summary.connect_cpu.clients_s}`,
);
row('server CPU per connection (µs)', summary.connect_cpu.server_us_per_conn);
row('server RSS idle → loaded (MiB)', `${summary.server.rss_idle_mib} → ${summary.server.rss_loaded_mib}`);
row('server PSS idle → loaded (MiB)', `${summary.server.pss_idle_mib} → ${summary.server.pss_loaded_mib}`);
row('server PSS per connection (KiB)', summary.server.pss_kib_per_conn);
row(
  'server RSS per connection: total, delta (KiB)',
  `${summary.server.rss_kib_per_conn} / ${summary.server.rss_delta_kib_per_conn}`,
);
row('kernel slab delta per connection (KiB, 2 ends)', summary.kernel.slab_delta_kib_per_conn);
row('kernel TCP mem delta (KiB)', summary.kernel.tcp_mem_delta_kib);
row('broadcast: received / expected', `${broadcast.received} / ${broadcast.expected}`);
row('broadcast CPU: server, clients (ms)', `${broadcast.server_cpu_ms}, ${broadcast.clients_cpu_ms}`);
row(
  'broadcast: http, first, p50, p99, all (ms)',
  `${broadcast.http_ms}, ${broadcast.first_ms}, ${broadcast.p50_ms}, ${broadcast.p99_ms}, ${broadcast.all_ms}`,
);
if (summary.broadcasts)
  row(
    `${rounds.length} broadcasts: median all, median server CPU (ms)`,
    `${summary.broadcasts.median_all_ms}, ${summary.broadcasts.median_server_cpu_ms}`,
  );
for (const p of probes)
  for (const [name, x] of Object.entries(p.summary()))
    row(
      `probe ${p.name}, ${name}: count, failures, p50, p99, max (ms)`,
      `${x.count}, ${x.failures}, ${x.p50_ms}, ${x.p99_ms}, ${x.max_ms}`,
    );
for (const [msg, count] of Object.entries(summary.server_warnings)) row(`server warned ${count}×`, msg.slice(0, 100));
console.log(JSON.stringify(summary));
await cleanup();
const ok = connected.subscribed === N && rounds.every((x) => x.received === N) && probes.every((p) => p.failures === 0);
if (!ok) console.error('capacity: not every socket subscribed and received the broadcast, or a probe failed');
process.exit(ok ? 0 : 1);
