#!/usr/bin/env node
/**
 * Round trip of a Livewire update on the real Laravel app (test/fixtures/laravel-app: Laravel 10's
 * `web` middleware, file sessions, CSRF, a Livewire-3-shaped `POST /livewire/update`), as a page
 * sends it: over the wiremesh tunnel on a warm socket vs HTTP keep-alive vs a new HTTP connection
 * per update. Runs against dist/ (build first: `npx tsc -p tsconfig.json`) and as root (PHP runs
 * in a chroot).
 *
 *   node bench/laravel-rtt.mjs [--n=200] [--warmup=20] [--delays=0,40] [--fpm-root=/var/tmp/wiremesh-laravel-rtt]
 *
 * The app is served by php-fpm behind nginx (which keeps connections) when the root given by
 * --fpm-root (default: WIREMESH_LARAVEL_RTT_ROOT, else /var/tmp/wiremesh-laravel-rtt) has both;
 * wiremesh's upstream is that nginx too, so the tunnel reuses pooled connections. Prepare it once,
 * as root, from the rig's root (the rig's own cache stays untouched):
 *
 *   cp -a "$(.ci/laravel)" /var/tmp/wiremesh-laravel-rtt
 *   chroot /var/tmp/wiremesh-laravel-rtt apt-get install -y --no-install-recommends php8.4-fpm nginx
 *
 * Without it, the app runs on PHP's built-in server in the rig's root (.ci/laravel), which closes
 * every connection: keep-alive and new connection then measure the same thing (the output says so).
 *
 * One page load (`GET /`) gives the session cookies, the CSRF token and the counter's signed
 * snapshot; every update sends the snapshot of the previous answer, `_token` in the body, and the
 * cookies: for HTTP the latest the app set (a browser's jar), for the tunnel the handshake's Cookie
 * header with the page's Origin. Each mode sends `warmup` + N sequential updates, the three modes in
 * turn (one update each); prints median and p99 in milliseconds, and the ratios to keep-alive. Everything listens on 127.0.0.1.
 */
import http from 'node:http';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { delayProxy } from './delay-proxy.mjs';
import { copyLaravelApp, laravelRig, startLaravel } from '../dist/test/helpers/laravel.js';
import { freePort } from '../dist/test/helpers/server.js';
import { validateConfig } from '../dist/src/config/validate.js';
import { createLogger } from '../dist/src/log/logger.js';
import { startServer } from '../dist/src/server.js';

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const N = Number(arg('n', '200'));
const WARMUP = Number(arg('warmup', '20'));
const DELAYS = arg('delays', '0,40').split(',').map(Number);
const FPM_ROOT = arg('fpm-root', process.env.WIREMESH_LARAVEL_RTT_ROOT ?? '/var/tmp/wiremesh-laravel-rtt');
const START_TIMEOUT_MS = 30_000;

function fpmRootReady(root) {
  return ['usr/sbin/php-fpm8.4', 'usr/sbin/nginx', '.wiremesh-laravel'].every((f) => existsSync(`${root}/${f}`));
}

/**
 * The fixture app served by php-fpm (2 workers, as the built-in server's cores here allow) behind
 * nginx, both in `root`, their configuration and socket in the app's copy.
 */
async function startFpmLaravel(root, env) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const copy = copyLaravelApp(root, { APP_URL: url, ...env });
  const dir = copy.dir.slice(0, -'/app'.length); // the copy's folder on the host
  const inRoot = dir.slice(root.length); // the same, seen from the root
  const children = [];
  const stop = async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, 'exit');
      process.kill(-child.pid, 'SIGTERM');
      const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    copy.remove();
  };
  const killOnExit = () => children.forEach((c) => c.exitCode === null && process.kill(-c.pid, 'SIGKILL'));
  process.once('exit', killOnExit);
  let out = '';
  try {
    await copy.artisan('migrate', '--force', '--seed');
    for (const d of ['nginx/body', 'nginx/fastcgi', 'nginx/proxy', 'nginx/scgi', 'nginx/uwsgi'])
      mkdirSync(`${dir}/${d}`, { recursive: true });
    writeFileSync(
      `${dir}/fpm.conf`,
      [
        '[global]',
        `error_log = ${inRoot}/fpm.log`,
        'daemonize = no',
        '[app]',
        'user = root',
        'group = root',
        `listen = ${inRoot}/fpm.sock`,
        'pm = static',
        'pm.max_children = 4',
        'catch_workers_output = yes',
        '',
      ].join('\n'),
    );
    writeFileSync(
      `${dir}/nginx.conf`,
      `user root;
worker_processes 1;
daemon off;
pid ${inRoot}/nginx.pid;
error_log ${inRoot}/nginx-error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 100000;
  client_body_temp_path ${inRoot}/nginx/body;
  fastcgi_temp_path ${inRoot}/nginx/fastcgi;
  proxy_temp_path ${inRoot}/nginx/proxy;
  scgi_temp_path ${inRoot}/nginx/scgi;
  uwsgi_temp_path ${inRoot}/nginx/uwsgi;
  server {
    listen 127.0.0.1:${port};
    root ${inRoot}/app/public;
    location / { try_files $uri /index.php?$query_string; }
    location = /index.php {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root/index.php;
      fastcgi_pass unix:${inRoot}/fpm.sock;
    }
  }
}
`,
    );
    for (const command of [
      ['/usr/sbin/php-fpm8.4', '-R', '-F', '-y', `${inRoot}/fpm.conf`],
      ['/usr/sbin/nginx', '-c', `${inRoot}/nginx.conf`],
    ]) {
      const [cmd, argv] = copy.argv(command);
      // Its own process group: the master and its workers are stopped together.
      const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      children.push(child);
    }
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const exited = children.find((c) => c.exitCode !== null);
      if (exited) throw new Error(`${exited.spawnargs.at(-3)} exited ${exited.exitCode}:\n${out}`);
      const ok = await fetch(`${url}/up`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`nginx + php-fpm did not answer ${url}/up in time:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    process.off('exit', killOnExit);
    await stop();
    throw error;
  }
  return {
    url,
    port,
    close: async () => {
      process.off('exit', killOnExit);
      await stop();
    },
  };
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { median: at(0.5), p99: at(0.99) };
}

const unescapeHtml = (s) =>
  s.replace(/&(quot|amp|lt|gt|#0?39);/g, (_, e) => ({ quot: '"', amp: '&', lt: '<', gt: '>' })[e] ?? "'");

/** A browser's cookie jar, as far as this app's cookies go: names and values from Set-Cookie. */
class Jar {
  cookies = new Map();
  take(setCookies = []) {
    for (const line of setCookies) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** Loads the page: the session cookies, the CSRF token and the counter's snapshot. */
async function loadPage(url) {
  const res = await fetch(`${url}/`);
  const html = await res.text();
  if (res.status !== 200) throw new Error(`GET / answered ${res.status}: ${html.slice(0, 300)}`);
  const jar = new Jar();
  jar.take(res.headers.getSetCookie());
  const token = html.match(/<meta name="csrf-token" content="([^"]+)"/)?.[1];
  const snapshot = html.match(/wire:snapshot="([^"]+)"/)?.[1];
  if (!token || !snapshot) throw new Error('the page has no CSRF token or no wire:snapshot');
  return { jar, token, snapshot: unescapeHtml(snapshot) };
}

/** The state a page keeps between updates: the latest snapshot; the next update's body. */
function updates(page) {
  let snapshot = page.snapshot;
  return {
    body: () =>
      JSON.stringify({
        _token: page.token,
        components: [{ snapshot, updates: {}, calls: [{ path: '', method: 'increment', params: [] }] }],
      }),
    answered(status, text, via) {
      if (status !== 200) throw new Error(`${via}: update answered ${status}: ${text.slice(0, 300)}`);
      snapshot = JSON.parse(text).components[0].snapshot;
    },
  };
}

const HEADERS = { 'content-type': 'application/json', accept: 'text/html, application/xhtml+xml', 'x-livewire': '' };

/** A page sending updates over HTTP: on one kept-alive connection, or on a new connection each. */
function httpMode(url, origin, page, keepAlive) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
  const state = updates(page);
  const { jar } = page;
  let connections = 0;
  const one = async () => {
    const body = state.body();
    const t = performance.now();
    const req = http.request(`${url}/livewire/update`, {
      method: 'POST',
      headers: { ...HEADERS, origin, cookie: jar.header() },
      agent,
    });
    req.on('socket', (s) => !s.wiremeshSeen && (s.wiremeshSeen = true) && connections++);
    req.end(body);
    const [res] = await once(req, 'response');
    let text = '';
    for await (const d of res) text += d;
    const ms = performance.now() - t;
    jar.take(res.headers['set-cookie']);
    state.answered(res.statusCode, text, keepAlive ? 'HTTP keep-alive' : 'HTTP new connection');
    return ms;
  };
  return { one, connections: () => connections, close: () => agent && agent.destroy() };
}

/** A page sending updates over its warm wiremesh socket. */
async function tunnelMode(wsPort, origin, page) {
  const state = updates(page);
  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/app/app-key?protocol=7&client=js&version=8.4.0`, {
    headers: { origin, cookie: page.jar.header() },
  });
  const waiting = new Map();
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'pusher:connection_established') waiting.get('open')?.();
    if (f.event === 'wiremesh:session') waiting.get('session')?.(f.data);
    if (f.event === 'wiremesh:response' || f.event === 'wiremesh:fallback') waiting.get(f.data.id)?.(f);
  });
  // A socket the server closes fails the run instead of leaving it waiting.
  const closed = new Promise((_, reject) =>
    ws.on('close', (code, reason) => reject(new Error(`tunnel socket closed: ${code} ${reason}`))),
  );
  closed.catch(() => {});
  const answer = (key) => Promise.race([new Promise((resolve) => waiting.set(key, resolve)), closed]);
  await answer('open');
  // What the client asks once before its first update: the sync token and whether cookies can follow.
  const session = answer('session');
  ws.send(JSON.stringify({ event: 'wiremesh:session', data: { pageAgeMs: 1000 } }));
  await session;
  // Updates after which a page would sync cookies over HTTP (POST /wiremesh/session) before its next one.
  let needSync = 0;
  let n = 0;
  const one = async () => {
    const id = `r${n++}`;
    const body = state.body();
    const answered = answer(id);
    const t = performance.now();
    ws.send(
      JSON.stringify({
        event: 'wiremesh:request',
        data: { id, method: 'POST', path: '/livewire/update', headers: HEADERS, body },
      }),
    );
    const f = await answered;
    const ms = performance.now() - t;
    waiting.delete(id);
    if (f.event !== 'wiremesh:response' || !f.data.done) throw new Error(`tunnel: ${JSON.stringify(f).slice(0, 300)}`);
    if (f.data.setCookies.length > 0) needSync++;
    state.answered(f.data.status, f.data.body, 'tunnel');
    return ms;
  };
  return { one, needSync: () => needSync, close: () => ws.close() };
}

if (process.getuid?.() !== 0) {
  console.error('laravel-rtt: runs PHP in a chroot, which needs root');
  process.exit(1);
}
const appKey = `base64:${randomBytes(32).toString('base64')}`;
const env = { APP_KEY: appKey, APP_DEBUG: 'false', SESSION_DRIVER: 'file' };
let laravel;
let served;
if (fpmRootReady(FPM_ROOT)) {
  laravel = await startFpmLaravel(FPM_ROOT, env);
  served = `nginx + php-fpm (4 workers) in ${FPM_ROOT}`;
} else {
  const rig = laravelRig();
  if (rig.skip) {
    console.error(`laravel-rtt: ${rig.skip}`);
    process.exit(1);
  }
  laravel = await startLaravel(rig.root, { env });
  served = `PHP's built-in server (4 workers; it closes every connection, so keep-alive = new connection; no php-fpm + nginx root at ${FPM_ROOT})`;
}

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
        backends: [laravel.url],
        publicUrl: laravel.url,
        laravelKey: appKey,
        // One socket sends WARMUP + N updates back to back, far above a page's rate: no budget here.
        maxRequestsPerSecond: 0,
      },
    },
  ],
});
const server = await startServer(config, { logger: createLogger({ level: 'warn' }) });

let modes = [];
const proxies = [];
const f = (s) => `${s.median.toFixed(2)} / ${s.p99.toFixed(2)}`;
const r = (s, k) => `${(s.median / k.median).toFixed(2)} / ${(s.p99 / k.p99).toFixed(2)}`;
const rows = [];
const notes = [];
try {
  for (const rtt of DELAYS) {
    // The network between the browser and the site: in front of wiremesh and in front of nginx
    // (wiremesh reaches Laravel directly, as in one data centre).
    const toServer = await delayProxy(server.port, rtt / 2);
    const toLaravel = await delayProxy(laravel.port, rtt / 2);
    proxies.push(toServer, toLaravel);
    const via = `http://127.0.0.1:${toLaravel.port}`;
    // One page per mode, so each starts from a fresh session as a new tab would.
    modes = [
      await tunnelMode(toServer.port, laravel.url, await loadPage(laravel.url)),
      httpMode(via, laravel.url, await loadPage(laravel.url), true),
      httpMode(via, laravel.url, await loadPage(laravel.url), false),
    ];
    const [tunnel, warm, cold] = modes;
    for (let i = 0; i < WARMUP; i++) for (const m of modes) await m.one();
    const syncsBefore = tunnel.needSync();
    // Interleaved, one update of each mode in turn: load from elsewhere on the machine falls on all three alike.
    const samples = modes.map(() => []);
    for (let i = 0; i < N; i++) for (const [j, m] of modes.entries()) samples[j].push(await m.one());
    for (const m of modes) m.close();
    modes = [];
    const [t, k, c] = samples.map(stats);
    rows.push(`${String(rtt).padStart(6)} ms | ${f(t)} | ${f(k)} | ${f(c)} | ${r(t, k)} | ${r(c, k)}`);
    notes.push(
      `added RTT ${rtt} ms: ${tunnel.needSync() - syncsBefore} of ${N} tunnelled answers asked for a cookie sync (POST /wiremesh/session); ` +
        `HTTP keep-alive used ${warm.connections()} connection(s), new connection ${cold.connections()}, warm-up included`,
    );
  }
  console.log(
    `Livewire updates on a real Laravel (${served}), ${N} sequential updates per mode (interleaved) after ${WARMUP} warm-up, milliseconds`,
  );
  for (const note of notes) console.log(note);
  console.log(
    'added RTT | tunnel (warm socket) median / p99 | HTTP keep-alive median / p99 | HTTP new connection median / p99 | tunnel ÷ keep-alive | new connection ÷ keep-alive',
  );
  for (const row of rows) console.log(row);
} finally {
  for (const m of modes) m.close();
  for (const p of proxies) p.close();
  await server.stop('immediate');
  await laravel.close();
}
