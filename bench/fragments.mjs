#!/usr/bin/env node
/**
 * Shared fragments vs the Livewire way: V viewers (raw Pusher-protocol sockets) watch the online
 * list of `presence-lobby`, split over two wiremesh nodes (separate `wiremesh start` processes on
 * the mesh driver); C presence changes (a user joins or leaves, alternately on either node) are
 * made one after the other. Measured: renders the app had to do, and for every viewer the time
 * from the change (the subscribe/unsubscribe frame sent) to the HTML that shows it.
 *
 * - fragments: viewers view the `online-users` fragment; each node renders once per change and
 *   sends the HTML to its viewers.
 * - livewire: what a Livewire component listening to the channel does: each viewer, on
 *   member_added / member_removed, pulls its own render through the tunnel (POST /livewire/update
 *   over its socket, `wiremesh:request`).
 *
 * The app (a child process) answers both with the same HTML (member count and the first 20
 * names); `--render-ms=N` adds N ms of CPU per render (a PHP render is rarely free). Runs against
 * dist/ (build first). Everything listens on 127.0.0.1; every wait is bounded.
 *
 *   node bench/fragments.mjs [--viewers=1000] [--changes=100] [--render-ms=0] [--modes=fragments,livewire]
 */
import { createHmac } from 'node:crypto';
import { fork } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const APP = { id: 'app-id', key: 'app-key', secret: 'app-secret' };
const PAGE = 'https://app.example.test';
const CHANNEL = 'presence-lobby';
const FRAGMENT = 'online-users';
const CHANGE_TIMEOUT_MS = 20_000;
const GAP_MS = 150; // between changes: more than the coalescing window, so each change is its own

/** What is shown: the member count and the first 20 names. */
const shown = (members) => ({ count: members.length, names: [...members].sort().slice(0, 20) });

function renderHtml({ count, names }) {
  return `<p data-count="${count}">${count} online</p><ul>${names.map((n) => `<li>${n}</li>`).join('')}</ul>`;
}

// ---------------------------------------------------------------------------------------------
// The app: a child process, so its renders do not share the measuring process's event loop.

async function runUpstream() {
  const renderMs = Number(arg('render-ms', '0'));
  let renders = 0;
  const burn = () => {
    const until = performance.now() + renderMs;
    while (performance.now() < until);
  };
  const server = http.createServer(async (req, res) => {
    if (req.url === '/up') return void res.end('ok');
    if (req.url === '/_stats') return void res.end(JSON.stringify({ renders }));
    if (req.url === '/_reset') {
      renders = 0;
      return void res.end('{}');
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    renders++;
    burn();
    if (req.url === '/fragments') {
      const members = body.events[0].members.map((m) => m.user_id);
      res.writeHead(200, { 'content-type': 'text/html' }).end(renderHtml(shown(members)));
      return;
    }
    // /livewire/update: the component re-renders from what it keeps in its state (count and names).
    const html = renderHtml(body.components[0].updates);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ components: [{ snapshot: '{}', effects: { html } }] }));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.send({ port: server.address().port });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The measuring process.

const sign = (text) => createHmac('sha256', APP.secret).update(text).digest('hex');

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

/** One raw Pusher-protocol socket with presence auth signed here (as Laravel's /broadcasting/auth would). */
class Socket {
  constructor(port, user) {
    this.user = user;
    this.handlers = new Map();
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`, {
      headers: { origin: PAGE },
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('error', reject);
      this.on('pusher:connection_established', (data) => {
        this.socketId = JSON.parse(data).socket_id;
        resolve();
      });
    });
    this.ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString());
      this.handlers.get(f.event)?.(f.data, f);
    });
  }
  on(event, fn) {
    this.handlers.set(event, fn);
  }
  send(event, data) {
    this.ws.send(JSON.stringify({ event, data }));
  }
  subscribe() {
    const channelData = JSON.stringify({ user_id: this.user });
    const auth = `${APP.key}:${sign(`${this.socketId}:${CHANNEL}:${channelData}`)}`;
    this.send('pusher:subscribe', { channel: CHANNEL, auth, channel_data: channelData });
  }
  close() {
    this.ws.terminate();
  }
}

async function startNodes(upstreamOrigin) {
  const { spawnServer, freePort } = await import('../dist/test/helpers/server.js');
  const meshPorts = [await freePort(), await freePort()];
  const peers = meshPorts.map((p) => `127.0.0.1:${p}`);
  const apps = [
    {
      ...APP,
      maxPresenceMembers: 10_000,
      livewire: { backends: [upstreamOrigin], publicUrl: PAGE },
      fragments: { path: '/fragments', names: { 'online-users': [CHANNEL] } },
    },
  ];
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const cluster = {
      driver: 'mesh',
      heartbeatMs: 200,
      nodeTimeoutMs: 2_000,
      mesh: { port: meshPorts[i], host: '127.0.0.1', peers, secret: 'bench-fragments-mesh-secret-0123456789abcdef' },
    };
    nodes.push(await spawnServer({ nodeId: `bench${i}`, cluster, apps, logLevel: 'warn' }));
  }
  await new Promise((r) => setTimeout(r, 800)); // a few heartbeats: the nodes know each other
  return nodes;
}

async function runMode(mode, { viewers, changes, renderMs }) {
  const upstream = fork(fileURLToPath(import.meta.url), ['upstream', `--render-ms=${renderMs}`], { stdio: 'inherit' });
  const [{ port: upstreamPort }] = await once(upstream, 'message');
  const upstreamOrigin = `http://127.0.0.1:${upstreamPort}`;
  const nodes = await startNodes(upstreamOrigin);
  const sockets = [];
  let fallbacks = 0;
  const failures = [];
  try {
    // Viewers: members of the channel (it is who is online), half on each node.
    const members = new Set();
    const views = [];
    for (let i = 0; i < viewers; i++) {
      const s = new Socket(nodes[i % 2].port, `viewer-${String(i).padStart(4, '0')}`);
      sockets.push(s);
      const view = { s, count: -1, waiting: null, known: new Set(), inFlight: 0, seq: 0 };
      views.push(view);
      // Tell the measuring loop when this viewer shows `count` members.
      view.saw = (count) => {
        view.count = count;
        if (view.waiting && view.waiting.count === count) {
          view.waiting.resolve(performance.now());
          view.waiting = null;
        }
      };
      if (mode === 'fragments') {
        s.on('wiremesh:fragment', (data) => view.saw(Number(/data-count="(\d+)"/.exec(data.html)[1])));
        s.on('pusher_internal:subscription_succeeded', () =>
          s.send('wiremesh:fragment-subscribe', { fragment: FRAGMENT, channel: CHANNEL }),
        );
      } else {
        const requestBody = () =>
          JSON.stringify({
            _token: 'x'.repeat(40),
            components: [{ snapshot: '{"memo":{"name":"online-users"}}', updates: shown([...view.known]), calls: [] }],
          });
        const pull = () => {
          const id = `r${++view.seq}`;
          s.send('wiremesh:request', {
            id,
            method: 'POST',
            path: '/livewire/update',
            headers: { 'content-type': 'application/json', 'x-livewire': '' },
            body: requestBody(),
          });
        };
        // What the browser client does when the node declines (`busy`: the upstream's queue is
        // full): the same update over plain HTTP, straight to the app.
        const overHttp = async () => {
          fallbacks++;
          const res = await fetch(`${upstreamOrigin}/livewire/update`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-livewire': '' },
            body: requestBody(),
          });
          const text = await res.text();
          if (res.status !== 200) throw new Error(`HTTP fallback answered ${res.status}`);
          view.saw(Number(/data-count=\\"(\d+)\\"/.exec(text)[1]));
        };
        s.on('pusher_internal:subscription_succeeded', (data) => {
          for (const id of JSON.parse(data).presence.ids) view.known.add(id);
        });
        s.on('pusher_internal:member_added', (data) => {
          view.known.add(JSON.parse(data).user_id);
          if (view.armed) pull();
        });
        s.on('pusher_internal:member_removed', (data) => {
          view.known.delete(JSON.parse(data).user_id);
          if (view.armed) pull();
        });
        s.on('wiremesh:response', (data) => {
          if (data.status !== 200) throw new Error(`tunnel answered ${data.status}`);
          view.saw(Number(/data-count=\\"(\d+)\\"/.exec(data.body)[1]));
        });
        s.on('wiremesh:fallback', (data) => {
          if (data.code !== 'busy') failures.push(`tunnel fell back: ${JSON.stringify(data)}`);
          else overHttp().catch((err) => failures.push(String(err)));
        });
      }
      members.add(s.user);
    }
    // Connect and subscribe in batches of 100 (bounded concurrency).
    for (let i = 0; i < views.length; i += 100) {
      const batch = views.slice(i, i + 100);
      await Promise.all(batch.map((v) => v.s.opened));
      for (const v of batch) v.s.subscribe();
    }
    // Settled: every viewer's own join has been seen everywhere (fragments: shows them all).
    const deadline = Date.now() + 60_000;
    if (mode === 'fragments') {
      while (views.some((v) => v.count !== viewers)) {
        if (Date.now() > deadline)
          throw new Error(`setup: viewers show ${[...new Set(views.map((v) => v.count))].join(',')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } else {
      while (views.some((v) => v.known.size !== viewers)) {
        if (Date.now() > deadline) throw new Error('setup: viewers did not see every member');
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const v of views) v.armed = true;
    }
    await new Promise((r) => setTimeout(r, 1_000));
    await fetch(`${upstreamOrigin}/_reset`);

    const samples = [];
    let missing = 0;
    let changer = null;
    let count = viewers;
    for (let i = 0; i < changes; i++) {
      const join = changer === null;
      if (join) {
        changer = new Socket(nodes[Math.floor(i / 2) % 2].port, `changer-${String(i).padStart(3, '0')}`);
        sockets.push(changer);
        await changer.opened;
      }
      count += join ? 1 : -1;
      const target = count;
      const arrivals = views.map(
        (v) =>
          new Promise((resolve) => {
            if (v.count === target) return resolve(performance.now());
            v.waiting = { count: target, resolve };
          }),
      );
      const t0 = performance.now();
      if (join) changer.subscribe();
      else {
        changer.send('pusher:unsubscribe', { channel: CHANNEL });
        const gone = changer;
        setTimeout(() => gone.close(), 50);
        changer = null;
      }
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), CHANGE_TIMEOUT_MS)));
      const result = await Promise.race([Promise.all(arrivals), timeout]);
      clearTimeout(timer);
      if (result === 'timeout') {
        for (const v of views) if (v.waiting) (missing++, (v.waiting = null));
      } else {
        for (const t of result) samples.push(t - t0);
      }
      await new Promise((r) => setTimeout(r, GAP_MS));
    }
    await new Promise((r) => setTimeout(r, 500));
    const { renders } = await (await fetch(`${upstreamOrigin}/_stats`)).json();
    if (failures.length > 0) throw new Error(`${failures.length} failures, first: ${failures[0]}`);
    return { mode, renders, missing, fallbacks, ...stats(samples) };
  } finally {
    for (const s of sockets) s.close();
    for (const n of nodes) n.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    upstream.disconnect();
    await once(upstream, 'exit');
  }
}

if (process.argv[2] === 'upstream') {
  await runUpstream();
} else {
  const viewers = Number(arg('viewers', '1000'));
  const changes = Number(arg('changes', '100'));
  const renderMs = Number(arg('render-ms', '0'));
  const modes = arg('modes', 'fragments,livewire').split(',');
  console.log(
    `shared fragments vs the Livewire way: ${viewers} viewers over 2 nodes, ${changes} presence changes, ${renderMs} ms CPU per render`,
  );
  console.log(
    'mode       | renders | per change | change → HTML on every viewer: p50 / p99 / max ms | samples | missing | fell back to HTTP (busy)',
  );
  for (const mode of modes) {
    const r = await runMode(mode, { viewers, changes, renderMs });
    const f = (x) => x.toFixed(1);
    console.log(
      `${mode.padEnd(10)} | ${String(r.renders).padStart(7)} | ${(r.renders / changes).toFixed(1).padStart(10)} | ${f(r.p50)} / ${f(r.p99)} / ${f(r.max)} | ${r.n} | ${r.missing} | ${r.fallbacks}`,
    );
  }
}
