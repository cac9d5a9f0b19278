/**
 * Fuzzing, on both transports: for a bounded time, thousands of random and mutated inputs from a
 * seeded PRNG — WebSocket frames over many raw connections (fuzz-ws.ts), garbage and malformed
 * upgrades on raw TCP (fuzz-tcp.ts), and HTTP API requests (fuzz-http.ts) — all at once. Then:
 * nothing escaped as an uncaught exception or unhandled rejection, no error was logged, no HTTP
 * answer was a 5xx, every connection and every occupied channel is gone again, the heap did not
 * grow, and a normal pusher-js client still connects, joins a presence channel and gets an event.
 *
 * The Livewire tunnel gets its own run (fuzz-tunnel.ts): random handshakes and tunnel frames at a
 * real upstream; every request is answered once, only the allowed page's allowed paths reach the
 * upstream with the configured forwarded host, the upstream is never marked down.
 *
 * The seed is printed; `FUZZ_SEED=<seed>` replays the same inputs, `FUZZ_MS` changes the duration.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { connected, pusherClient, serverSdk, until } from './helpers/clients.js';
import { deepJson } from './helpers/fuzz-pusher.js';
import { httpWorker, newHttpStats, signedQuery, ALLOWED_STATUSES, type HttpApp } from './helpers/fuzz-http.js';
import { fuzzSeed, Rng } from './helpers/fuzz-rng.js';
import { newTcpStats, tcpWorker } from './helpers/fuzz-tcp.js';
import { heapAfterGc, LogWatch, metric, mib, ProcessWatch } from './helpers/fuzz-watch.js';
import { APP_PATH, WireClient } from './helpers/fuzz-wire.js';
import { newTunnelStats, tunnelWorker, TUNNEL_PAGE, TUNNEL_PATHS } from './helpers/fuzz-tunnel.js';
import { newWsStats, wsWorker } from './helpers/fuzz-ws.js';
import { TestBackend } from './helpers/livewire-backend.js';
import { TunnelSocket } from './helpers/livewire-socket.js';
import { APP, startTestServer, testApp } from './helpers/server.js';
import { loadUws } from '../src/transport/uws.js';

const SEED = fuzzSeed();
const FUZZ_MS = Number(process.env.FUZZ_MS ?? 8_000);
const MAX_FRAME_BYTES = 128 * 1024;
const MAX_BODY_BYTES = 256 * 1024;
const MAX_EVENT_BYTES = 100 * 1024;
/**
 * Inputs each part must at least have sent (per 8 s; a typical run sends 3–8 times as many), so
 * the test cannot pass by doing little.
 */
const scale = FUZZ_MS / 8_000;
const MIN_INPUTS = {
  total: 6_000 * scale,
  wsFrames: 4_000 * scale,
  wsConnections: 200 * scale,
  tcp: 200 * scale,
  http: 500 * scale,
};

/** A second app without the client-event rate limit, so client events fan out instead of being refused. */
const FREE_APP = {
  id: 'fuzz-free',
  key: 'fuzz-free-key',
  secret: 'fuzz-free-secret',
  clientEvents: true,
  userAuthentication: true,
  maxClientEventsPerSecond: 0,
};
const APPS: HttpApp[] = [APP, FREE_APP];

let uwsSkip: string | false = false;
try {
  await loadUws();
} catch (err) {
  uwsSkip = `uWebSockets.js not loadable here: ${err instanceof Error ? err.message : String(err)}`;
}

const histogram = (m: Map<number, number>): string =>
  [...m]
    .sort(([a], [b]) => a - b)
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');

async function fuzz(t: TestContext, transport: 'ws' | 'uws'): Promise<void> {
  t.diagnostic(`seed ${SEED} (replay: FUZZ_SEED=${SEED}), ${FUZZ_MS} ms`);
  console.log(`fuzz ${transport}: seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  const srv = await startTestServer({
    transport,
    limits: { maxFrameBytes: MAX_FRAME_BYTES, maxRequestBodyBytes: MAX_BODY_BYTES },
    apps: [testApp({ maxEventPayloadBytes: MAX_EVENT_BYTES }), { ...FREE_APP, maxEventPayloadBytes: MAX_EVENT_BYTES }],
  });
  const watch = new ProcessWatch();
  const logs = new LogWatch(srv);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    assert.equal(srv.server.transport, transport);
    const before = heapAfterGc();
    const deadline = Date.now() + FUZZ_MS;
    const ws = newWsStats();
    const tcp = newTcpStats();
    const api = newHttpStats();
    let stream = 0;
    const rng = (): Rng => new Rng(SEED, stream++);
    const wsEnv = { port: srv.port, apps: APPS, maxFrameBytes: MAX_FRAME_BYTES, deadline };
    const httpEnv = {
      port: srv.port,
      apps: APPS,
      maxRequestBodyBytes: MAX_BODY_BYTES,
      maxEventPayloadBytes: MAX_EVENT_BYTES,
      deadline,
      agent,
      dropsUnknownMethods: transport === 'uws',
    };
    await Promise.all([
      ...Array.from({ length: 24 }, () => wsWorker(rng(), wsEnv, ws)),
      ...Array.from({ length: 8 }, () => tcpWorker(rng(), srv.port, APP.key, deadline, tcp)),
      ...Array.from({ length: 8 }, () => httpWorker(rng(), httpEnv, api)),
    ]);
    agent.destroy();

    const { open, channels } = await settled(srv.port);
    const sdk = serverSdk(srv.port);
    const listed = (await (await sdk.get({ path: '/channels' })).json()) as { channels: Record<string, unknown> };
    const after = heapAfterGc();
    logs.drain();

    const total = ws.frames + tcp.connections + api.requests;
    const summary = [
      `inputs: ${total} (ws frames ${ws.frames} over ${ws.connections} connections, ${ws.established} established, ${mib(ws.bytes)}; ` +
        `raw tcp ${tcp.connections}, ${mib(tcp.bytes)}; http ${api.requests})`,
      `ws frames from the server: ${ws.received} (${ws.receivedBinary} binary); close codes: ${histogram(ws.closeCodes)}`,
      `raw tcp first answers: ${histogram(tcp.statuses)}`,
      `http statuses: ${histogram(api.statuses)}; unknown methods dropped (uws) ${api.dropped}; connection errors ${api.errors} ${api.firstErrors.join(' | ')}`,
      `heapUsed after GC ${mib(before.heapUsed)} -> ${mib(after.heapUsed)}, rss ${mib(before.rss)} -> ${mib(after.rss)}; server log lines ${logs.lines}`,
    ];
    for (const line of summary) t.diagnostic(line);

    assert.deepEqual(watch.failures, [], 'no uncaught exception or unhandled rejection');
    assert.deepEqual(logs.errors, [], 'the server logged no error');
    assert.deepEqual(api.unexpected, [], `every HTTP answer is one of ${[...ALLOWED_STATUSES].join(', ')}`);
    assert.deepEqual(tcp.serverErrors, [], 'no 5xx answer to raw TCP input');
    assert.equal(ws.receivedBinary, 0, 'the server sent only text frames');
    assert.deepEqual(api.firstErrors, [], 'every HTTP request was answered');
    assert.equal(open, 0, 'every connection is gone once its socket closed');
    assert.equal(channels, 0, 'every channel was vacated');
    assert.deepEqual(listed.channels, {}, 'the HTTP API lists no occupied channel');
    assert.ok(
      after.heapUsed - before.heapUsed < 100 * 1024 * 1024,
      `heap grew by ${mib(after.heapUsed - before.heapUsed)}`,
    );
    assert.ok(total >= MIN_INPUTS.total, `at least ${MIN_INPUTS.total} inputs sent (${total})`);
    assert.ok(ws.frames >= MIN_INPUTS.wsFrames, `at least ${MIN_INPUTS.wsFrames} WebSocket frames sent (${ws.frames})`);
    assert.ok(
      ws.established >= MIN_INPUTS.wsConnections,
      `at least ${MIN_INPUTS.wsConnections} connections established (${ws.established})`,
    );
    assert.ok(tcp.connections >= MIN_INPUTS.tcp, `at least ${MIN_INPUTS.tcp} raw TCP inputs sent (${tcp.connections})`);
    assert.ok(api.requests >= MIN_INPUTS.http, `at least ${MIN_INPUTS.http} HTTP requests sent (${api.requests})`);

    await stillServes(srv.port);
  } finally {
    agent.destroy();
    logs.dispose();
    watch.dispose();
    await srv.close();
  }
}

async function fuzzTunnel(t: TestContext, transport: 'ws' | 'uws'): Promise<void> {
  t.diagnostic(`seed ${SEED} (replay: FUZZ_SEED=${SEED}), ${FUZZ_MS} ms`);
  const upstream = await TestBackend.start();
  const srv = await startTestServer({
    transport,
    limits: { maxFrameBytes: MAX_FRAME_BYTES },
    apps: [
      testApp({
        livewire: {
          backends: [upstream.origin],
          publicUrl: TUNNEL_PAGE,
          paths: TUNNEL_PATHS,
          timeoutMs: 2_000,
          healthIntervalMs: 1_000,
        },
      }),
    ],
  });
  const watch = new ProcessWatch();
  const logs = new LogWatch(srv, /livewire upstream down|livewire exchange failed/);
  try {
    const before = heapAfterGc();
    const stats = newTunnelStats();
    let stream = 1000;
    const deadline = Date.now() + FUZZ_MS / 2;
    await Promise.all(
      Array.from({ length: 8 }, () => tunnelWorker(new Rng(SEED, stream++), { port: srv.port, deadline }, stats)),
    );
    const open = await settled(srv.port);
    const after = heapAfterGc();
    logs.drain();
    const fallbacks = [...stats.fallbacks].map(([k, v]) => `${k}×${v}`).join(' ');
    t.diagnostic(
      `tunnel: ${stats.frames} frames over ${stats.connections} connections; ${stats.requests} requests, ${stats.responses} responses, fallbacks ${fallbacks}, ` +
        `${stats.protocolErrors} protocol errors, ${stats.aborted} aborted; upstream saw ${upstream.seen.length}; heapUsed ${mib(before.heapUsed)} -> ${mib(after.heapUsed)}`,
    );
    assert.deepEqual(watch.failures, [], 'no uncaught exception or unhandled rejection');
    assert.deepEqual(logs.errors, [], 'the server logged no error');
    assert.deepEqual(logs.matched, [], 'the upstream was never marked down, no exchange failed');
    assert.deepEqual(stats.unanswered, [], 'every request with a fresh id was answered (unless aborted)');
    assert.deepEqual(stats.answeredTwice, [], 'no request was answered twice');
    const strays = upstream.seen.filter(
      (x) =>
        x.headers.origin !== TUNNEL_PAGE ||
        x.headers['x-forwarded-host'] !== 'app.fuzz.test' ||
        x.headers['x-forwarded-proto'] !== 'https' ||
        x.url.includes(';') ||
        x.path === '/admin',
    );
    assert.deepEqual(
      strays.map((x) => `${x.method} ${x.url} origin=${String(x.headers.origin)}`).slice(0, 10),
      [],
      'only the allowed page reached the upstream, with the configured forwarded host',
    );
    assert.equal(open.open, 0, 'every connection is gone once its socket closed');
    assert.ok(
      after.heapUsed - before.heapUsed < 100 * 1024 * 1024,
      `heap grew by ${mib(after.heapUsed - before.heapUsed)}`,
    );
    assert.ok(stats.requests >= 300 * scale, `at least ${300 * scale} tunnel requests sent (${stats.requests})`);
    assert.ok(
      stats.responses >= 50 * scale && (stats.fallbacks.get('not_allowed') ?? 0) >= 50 * scale,
      'both tunnelled and refused requests',
    );
    const s = await TunnelSocket.open(srv.port, { origin: TUNNEL_PAGE });
    try {
      s.request({ id: 'after', path: '/livewire/update' });
      assert.equal((await s.response('after')).status, 200, 'a normal tunnelled request is still served');
    } finally {
      s.close();
    }
  } finally {
    logs.dispose();
    watch.dispose();
    await srv.close();
    await upstream.close();
  }
}

/**
 * Every fuzzing socket is closed by now: waits (up to 8 s) for the server to let go of every
 * connection and every occupied channel, and returns what its gauges say at the end.
 */
async function settled(port: number): Promise<{ open: number; channels: number }> {
  for (let i = 0; ; i++) {
    const open = await metric(port, 'wiremesh_connections');
    const channels = await metric(port, 'wiremesh_channels');
    if ((open === 0 && channels === 0) || i === 80) return { open, channels };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A normal pusher-js client connects, joins a presence channel, and gets an SDK event within 2 s. */
async function stillServes(port: number): Promise<void> {
  assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
  const client = pusherClient(port, { presence: () => ({ user_id: 'after-fuzz', user_info: { name: 'Ada' } }) });
  try {
    await connected(client, 2_000);
    const channel = client.subscribe('presence-after-fuzz') as unknown as {
      subscribed: boolean;
      members: { count: number; me: { id: string } | null };
      bind(event: string, cb: (data: unknown) => void): void;
    };
    const got: unknown[] = [];
    channel.bind('after-fuzz', (d) => got.push(d));
    await until(() => channel.subscribed, 'presence subscription', 2_000);
    assert.equal(channel.members.count, 1);
    assert.equal(channel.members.me?.id, 'after-fuzz');
    const sent = Date.now();
    await serverSdk(port).trigger('presence-after-fuzz', 'after-fuzz', { ok: true });
    await until(() => got.length === 1, 'the event after the fuzzing', 2_000 - (Date.now() - sent));
    assert.deepEqual(got, [{ ok: true }]);
  } finally {
    client.disconnect();
  }
}

const sign = (secret: string, text: string): string =>
  `${APP.key}:${createHmac('sha256', secret).update(text).digest('hex')}`;

/** A raw client whose text frames are kept; `next` waits for the next one (after the last match) matching. */
async function recorded(port: number): Promise<{ c: WireClient; next(re: RegExp): Promise<string> }> {
  const c = await WireClient.open(port, APP_PATH(APP.key));
  assert.ok(c.socketId, 'connection established');
  const texts: string[] = [];
  let cursor = 0;
  c.onText = (text) => texts.push(text);
  const next = async (re: RegExp): Promise<string> => {
    const find = (): number => texts.findIndex((x, i) => i >= cursor && re.test(x));
    await c.until(() => find() >= 0, 3_000);
    const at = find();
    assert.ok(
      at >= 0,
      `a frame matching ${re}; got ${texts
        .slice(cursor)
        .map((x) => x.slice(0, 200))
        .join(' | ')}`,
    );
    cursor = at + 1;
    return texts[at]!;
  };
  return { c, next };
}

/** Inputs the fuzzer found to break the server, replayed exactly. */
async function findings(transport: 'ws' | 'uws'): Promise<void> {
  const srv = await startTestServer({ transport });
  const logs = new LogWatch(srv);
  const { c, next } = await recorded(srv.port);
  const client = pusherClient(srv.port, { presence: () => ({ user_id: 'ada' }) });
  try {
    const id = c.socketId!;
    // Client event data nested deeper than JSON.stringify can recurse: refused with 4302, connection kept.
    await c.sendText(
      JSON.stringify({
        event: 'pusher:subscribe',
        data: { channel: 'private-deep', auth: sign(APP.secret, `${id}:private-deep`) },
      }),
    );
    await next(/subscription_succeeded/);
    await c.sendText(`{"event":"client-deep","channel":"private-deep","data":${deepJson(50_000, true)}}`);
    assert.match(await next(/pusher:error/), /"code":4302,"message":"Event data is nested too deeply"/);
    // Presence user_info nested as deep: a subscription error, not an internal error.
    const deepMember = `{"user_id":"deep","user_info":${deepJson(20_000, false)}}`;
    await c.sendText(
      JSON.stringify({
        event: 'pusher:subscribe',
        data: {
          channel: 'presence-deep',
          auth: sign(APP.secret, `${id}:presence-deep:${deepMember}`),
          channel_data: deepMember,
        },
      }),
    );
    assert.match(await next(/pusher:subscription_error/), /nested too deeply/);
    // A watchlist entry String() cannot convert: signin still succeeds.
    const userData = '{"id":"wl","watchlist":[{"toString":1},"ada"]}';
    await c.sendText(
      JSON.stringify({
        event: 'pusher:signin',
        data: { user_data: userData, auth: sign(APP.secret, `${id}::user::${userData}`) },
      }),
    );
    await next(/pusher:signin_success/);
    assert.match(await next(/watchlist_events/), /offline.*ada/);
    // Channel events arrive as text frames (the Pusher protocol is text; a browser cannot parse a Blob).
    await c.sendText(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'plain' } }));
    await next(/subscription_succeeded.*plain/);
    await serverSdk(srv.port).trigger('plain', 'as-text', 'hello');
    await next(/"event":"as-text"/);
    // "__proto__" is a user id and a channel name like any other.
    const member = '{"user_id":"__proto__","user_info":{"x":1}}';
    await c.sendText(
      JSON.stringify({
        event: 'pusher:subscribe',
        data: {
          channel: 'presence-proto',
          auth: sign(APP.secret, `${id}:presence-proto:${member}`),
          channel_data: member,
        },
      }),
    );
    await next(/subscription_succeeded.*presence-proto/);
    await c.sendText(JSON.stringify({ event: 'pusher:subscribe', data: { channel: '__proto__' } }));
    await next(/subscription_succeeded.*__proto__/);
    await connected(client);
    const channel = client.subscribe('presence-proto') as unknown as {
      subscribed: boolean;
      members: { count: number; get(id: string): { info: unknown } | null };
    };
    await until(() => channel.subscribed, 'presence-proto subscribed');
    assert.equal(channel.members.count, 2);
    assert.deepEqual(channel.members.get('__proto__')?.info, { x: 1 });
    const sdk = serverSdk(srv.port);
    const listed = (await (await sdk.get({ path: '/channels' })).json()) as { channels: Record<string, unknown> };
    assert.ok(Object.hasOwn(listed.channels, '__proto__'), `__proto__ listed in ${JSON.stringify(listed)}`);
    const body = JSON.stringify({ name: 'e', channels: ['__proto__'], data: '{}', info: 'subscription_count' });
    const info = await fetch(
      `${srv.httpUrl}/apps/${APP.id}/events?${signedQuery(APP, 'POST', `/apps/${APP.id}/events`, body)}`,
      { method: 'POST', body },
    );
    assert.equal(await info.text(), '{"channels":{"__proto__":{"subscription_count":1}}}');
    // HTTP event data nested too deeply: 400, not 500.
    const deep = `{"name":"e","channel":"fz","data":${deepJson(50_000, true)}}`;
    const res = await fetch(
      `${srv.httpUrl}/apps/${APP.id}/events?${signedQuery(APP, 'POST', `/apps/${APP.id}/events`, deep)}`,
      { method: 'POST', body: deep },
    );
    assert.deepEqual(
      { status: res.status, body: await res.text() },
      { status: 400, body: '{"error":"Event data is nested too deeply"}' },
    );
    // HEAD: headers only, and the kept-alive connection answers the next request.
    const head = await WireClient.connect(
      srv.port,
      'HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    let answer = '';
    head.socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    await head.until(() => /\r\n\r\n[\s\S]*HTTP\/1\.1 404[\s\S]*\r\n\r\n\{.*\}$/.test(answer), 2_000);
    head.destroy();
    assert.match(
      answer,
      /^HTTP\/1\.1 200 OK\r\n(?:[^\r]+\r\n)+\r\nHTTP\/1\.1 404 /,
      `two answers, the first without a body: ${JSON.stringify(answer)}`,
    );
    assert.ok(c.socketId !== null && !c.ended, 'the raw connection is still open');
    logs.drain();
    assert.deepEqual(logs.errors, [], 'the server logged no error');
  } finally {
    client.disconnect();
    c.destroy();
    logs.dispose();
    await srv.close();
  }
}

describe('fuzz findings, replayed', () => {
  test('ws transport: deep nesting, odd watchlists, "__proto__" keys, text frames and HEAD are handled properly', () =>
    findings('ws'));
  test(
    'uws transport: deep nesting, odd watchlists, "__proto__" keys, text frames and HEAD are handled properly',
    { skip: uwsSkip },
    () => findings('uws'),
  );
});

describe(`fuzzing (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, () => {
  test(
    'ws transport: random and mutated frames, TCP garbage and HTTP requests leave the server healthy',
    { timeout: 30_000 },
    (t) => fuzz(t, 'ws'),
  );
  test(
    'uws transport: random and mutated frames, TCP garbage and HTTP requests leave the server healthy',
    { skip: uwsSkip, timeout: 30_000 },
    (t) => fuzz(t, 'uws'),
  );
  test(
    'ws transport: random handshakes and Livewire tunnel frames leave the tunnel safe and serving',
    { timeout: 30_000 },
    (t) => fuzzTunnel(t, 'ws'),
  );
  test(
    'uws transport: random handshakes and Livewire tunnel frames leave the tunnel safe and serving',
    { skip: uwsSkip, timeout: 30_000 },
    (t) => fuzzTunnel(t, 'uws'),
  );
});
