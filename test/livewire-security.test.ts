/**
 * The Livewire tunnel as an attacker tries it (src/livewire/: headers.ts, paths.ts, gate.ts,
 * upstreams.ts): real wiremesh, a real HTTP upstream (node:http), raw `ws` sockets with chosen
 * handshake headers. Each test asserts the bound and that a normal client is
 * still served; each fails on the code before the fix.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, until } from './helpers/clients.js';
import { TestBackend, type Echo } from './helpers/livewire-backend.js';
import { TunnelSocket, type ResponseData } from './helpers/livewire-socket.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { track } from './helpers/track.js';

const PAGE = 'https://app.example.test';
const VICTIM = { origin: PAGE, cookie: 'laravel_session=VICTIM' };
async function backend(t: TestContext): Promise<TestBackend> {
  return track(t, await TestBackend.start());
}

async function server(
  t: TestContext,
  livewire: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<TestServer> {
  return track(t, await startTestServer({ ...extra, apps: [testApp({ livewire: { publicUrl: PAGE, ...livewire } })] }));
}

async function socket(t: TestContext, srv: TestServer, headers: Record<string, string>): Promise<TunnelSocket> {
  return track(t, await TunnelSocket.open(srv.port, headers));
}

const echoOf = (r: ResponseData): Echo => JSON.parse(r.body) as Echo;
const logged = (srv: TestServer, msg: string): Array<Record<string, unknown>> =>
  srv.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

describe('only pages of the configured origins may tunnel', () => {
  test('a tunnel without publicUrl does not start', async (t) => {
    const b = await backend(t);
    await assert.rejects(
      startTestServer({ apps: [testApp({ livewire: { backends: [b.origin] } })] }),
      /apps\[0\]\.livewire\.publicUrl must be set to the app's public origin/,
    );
  });

  test('Origin missing, empty, null or another site: fallback not_allowed, the victim cookie never reaches the upstream; logged once per episode with the client', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin] });
    const attacks: Array<Record<string, string>> = [
      { cookie: VICTIM.cookie },
      { cookie: VICTIM.cookie, origin: '' },
      { cookie: VICTIM.cookie, origin: 'null' },
      { cookie: VICTIM.cookie, origin: 'https://evil.example' },
      { cookie: VICTIM.cookie, origin: 'https://app.example.test.evil.example' },
      { cookie: VICTIM.cookie, origin: 'http://app.example.test' },
    ];
    for (const [i, headers] of attacks.entries()) {
      const s = await socket(t, srv, headers);
      for (let k = 0; k < 3; k++) {
        const id = `a${i}-${k}`;
        s.request({
          id,
          method: 'GET',
          path: `/broadcasting/auth?socket_id=${s.socketId}&channel_name=private-user.1`,
          body: '',
        });
        assert.equal((await s.fallback(id)).code, 'not_allowed', JSON.stringify(headers));
      }
    }
    assert.equal(b.seen.length, 0, 'the upstream saw none of them');
    const lines = logged(srv, 'livewire request refused');
    assert.equal(lines.length, 1, `one warn line for the episode of 127.0.0.1, not ${lines.length}`);
    assert.equal(lines[0]!.level, 40);
    assert.equal(lines[0]!.client, '127.0.0.1');
    assert.equal(lines[0]!.code, 'not_allowed');
    // The real page is still served, and an extra allowed origin works too.
    const page = await socket(t, srv, VICTIM);
    page.request({ id: 'ok', path: '/livewire/update' });
    assert.equal(echoOf(await page.response('ok')).cookies.laravel_session, 'VICTIM');
  });

  test('allowedOrigins: each listed origin may tunnel and is its own X-Forwarded-Host', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin], allowedOrigins: ['https://www.example.test:8443'] });
    const s = await socket(t, srv, { origin: 'https://www.example.test:8443' });
    s.request({ id: 'w', path: '/livewire/update' });
    const r = await s.response('w');
    assert.equal(r.url, 'https://www.example.test:8443/livewire/update');
    assert.equal(echoOf(r).headers['x-forwarded-host'], 'www.example.test:8443');
    assert.equal(echoOf(r).headers['x-forwarded-port'], '8443');
  });
});

describe('X-Forwarded-* come from configuration, and from a trusted proxy only', () => {
  test("the handshake's Host and X-Forwarded-* do not reach Laravel; the configured origin does", async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin] });
    const s = await socket(t, srv, {
      origin: PAGE,
      host: 'evil-host.example:444',
      'x-forwarded-host': 'attacker.example',
      'x-forwarded-port': '8443',
      'x-forwarded-proto': 'http',
      'x-forwarded-for': '6.6.6.6, 7.7.7.7',
    });
    s.request({ id: 'h', path: '/livewire/update' });
    const r = await s.response('h');
    const h = echoOf(r).headers;
    assert.equal(h['x-forwarded-host'], 'app.example.test');
    assert.equal(h['x-forwarded-port'], '443');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(r.url, `${PAGE}/livewire/update`);
  });

  test('behind a trusted proxy its X-Forwarded-For chain is kept (and names the client in logs); Proto still from configuration', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin], trustedProxies: ['127.0.0.0/8'] });
    const s = await socket(t, srv, { origin: PAGE, 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http' });
    s.request({ id: 't', path: '/livewire/update' });
    const h = echoOf(await s.response('t')).headers;
    assert.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    s.request({ id: 'bad', path: '/admin' });
    await s.fallback('bad');
    assert.equal(logged(srv, 'livewire request refused')[0]?.client, '203.0.113.9');
  });
});

describe("a client's bad header is refused for that request only", () => {
  test('control characters or characters above U+00FF: fallback not_allowed, the upstream stays up for everyone', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin], healthIntervalMs: 60_000 });
    const attacker = await socket(t, srv, { origin: PAGE });
    const victim = await socket(t, srv, { origin: PAGE });
    const bad: Array<Record<string, string>> = [
      { 'x-csrf-token': 'a\u0001b' },
      { accept: 'text/\u0100' },
      { 'x-livewire': '\u007f' },
    ];
    for (const [i, headers] of bad.entries()) {
      attacker.request({ id: `x${i}`, path: '/livewire/update', headers });
      assert.equal((await attacker.fallback(`x${i}`)).code, 'not_allowed');
      victim.request({ id: `v${i}`, path: '/livewire/update' });
      assert.equal((await victim.response(`v${i}`)).status, 200, 'the victim is served right after');
    }
    assert.equal(b.seen.length, 3, 'only the victim reached the upstream');
    assert.equal(logged(srv, 'livewire upstream down').length, 0);
  });
});

describe('the upstream pool is bounded', () => {
  test('a request that cannot be dispatched within queueTimeoutMs falls back busy before it reaches the upstream', async (t) => {
    const b = await backend(t);
    const srv = await server(t, {
      backends: [b.origin],
      queueTimeoutMs: 300,
      timeoutMs: 5_000,
      healthIntervalMs: 60_000,
    });
    // 8 sockets × 8 slow requests hold the upstream's 64 connections.
    const hogs = await Promise.all(Array.from({ length: 8 }, () => socket(t, srv, { origin: PAGE })));
    hogs.forEach((h, i) => {
      for (let k = 0; k < 8; k++) h.request({ id: `h${k}`, path: `/livewire/update?delay=2500&hog=${i}-${k}` });
    });
    await until(() => b.seen.length === 64, '64 requests at the upstream', 5_000);
    const victim = await socket(t, srv, { origin: PAGE });
    const sent = Date.now();
    victim.request({ id: 'q', path: '/livewire/update?victim=1' });
    const f = await victim.fallback('q');
    const waited = Date.now() - sent;
    assert.equal(f.code, 'busy');
    assert.ok(waited < 2_000, `answered within the queue timeout (+ slack), not after the hogs: ${waited} ms`);
    await sleep(100);
    assert.ok(!b.seen.some((x) => x.url.includes('victim=1')), 'the refused request never reached the upstream');
    assert.equal(logged(srv, 'livewire upstream down').length, 0);
    // Once the hogs are answered the victim is served again.
    await Promise.all(hogs.map((h) => h.response('h7', 6_000)));
    victim.request({ id: 'q2', path: '/livewire/update' });
    assert.equal((await victim.response('q2')).status, 200);
  });

  test('maxQueued 0: no waiting at all once the connections are in use', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin], maxQueued: 0, timeoutMs: 5_000 });
    const hogs = await Promise.all(Array.from({ length: 8 }, () => socket(t, srv, { origin: PAGE })));
    hogs.forEach((h) => {
      for (let k = 0; k < 8; k++) h.request({ id: `h${k}`, path: '/livewire/update?delay=1500' });
    });
    await until(() => b.seen.length === 64, '64 requests at the upstream', 5_000);
    const victim = await socket(t, srv, { origin: PAGE });
    victim.request({ id: 'q', path: '/livewire/update' });
    assert.equal((await victim.fallback('q')).code, 'busy');
    await Promise.all(hogs.map((h) => h.response('h7', 6_000)));
  });

  test('deadlineMs bounds a whole response, however steadily its chunks arrive', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin], timeoutMs: 400, deadlineMs: 700 });
    const s = await socket(t, srv, { origin: PAGE });
    const sent = Date.now();
    // 30 chunks 100 ms apart: each well within timeoutMs, 3 s in all.
    s.request({ id: 'st', path: '/livewire/update?stream=30' });
    const r = await s.response('st', 5_000);
    const took = Date.now() - sent;
    assert.equal(r.status, 200);
    assert.equal(r.error, 'The backend did not answer in time');
    assert.ok(took < 2_000, `cut at the deadline, not after the whole stream: ${took} ms`);
    // A request that never answers gets 504 at the deadline too.
    const hang = await server(t, { backends: [b.origin], timeoutMs: 400, deadlineMs: 400 });
    const h = await socket(t, hang, { origin: PAGE });
    h.request({ id: 'hg', path: '/livewire/update?hang=1' });
    assert.equal((await h.response('hg')).status, 504);
  });

  test("a connection's buffered response bytes are capped (maxBufferedResponseBytes), others unaffected", async (t) => {
    const b = await backend(t);
    const srv = await server(t, {
      backends: [b.origin],
      maxResponseBytes: 600_000,
      maxBufferedResponseBytes: 1_000_000,
    });
    const s = await socket(t, srv, { origin: PAGE });
    // Four bodies of 550 kB arrive at once, each in two halves 300 ms apart: 1.1 MB at the half.
    for (let i = 0; i < 4; i++) s.request({ id: `big${i}`, path: `/livewire/update?big=550000&trickle=300&i=${i}` });
    const answers = await Promise.all([0, 1, 2, 3].map((i) => s.response(`big${i}`, 8_000)));
    const refused = answers.filter((r) => r.status === 502 && r.body === 'Response too large for the tunnel');
    const whole = answers.filter((r) => r.status === 200 && r.body.length === 275_000);
    assert.ok(refused.length >= 1, `at least one over the cap refused: ${answers.map((r) => r.status).join(',')}`);
    assert.ok(whole.length >= 1, 'the first ones within the cap are delivered whole');
    assert.ok(logged(srv, 'livewire connection holds too many response bytes').length >= 1);
    const other = await socket(t, srv, { origin: PAGE });
    other.request({ id: 'o', path: '/livewire/update?big=550000' });
    assert.equal((await other.response('o')).status, 200);
  });
});

describe('abort-and-resend cannot pile work onto the upstream', () => {
  test('an aborted request keeps its slot until the upstream answered it', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin], maxInFlight: 2, timeoutMs: 5_000 });
    const s = await socket(t, srv, { origin: PAGE });
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 2; k++) s.request({ id: `r${round}-${k}`, path: `/livewire/update?delay=1500&r=${round}` });
      await sleep(20);
      for (let k = 0; k < 2; k++) s.abort(`r${round}-${k}`);
    }
    await s.roundTrip();
    const busy = s.frames.filter(
      (f) => f.event === 'wiremesh:fallback' && (f.data as { code: string }).code === 'busy',
    ).length;
    await sleep(100);
    assert.ok(b.seen.length <= 2, `at most maxInFlight requests reached the upstream while they ran: ${b.seen.length}`);
    assert.equal(busy, 18);
    assert.equal(
      s.frames.filter((f) => f.event === 'wiremesh:response').length,
      0,
      'nothing answered for aborted requests',
    );
    await until(() => b.seen.length === 2 && Date.now() > 0, 'seen');
    await sleep(1_600);
    s.request({ id: 'after', path: '/livewire/update' });
    assert.equal((await s.response('after')).status, 200);
  });
});

describe("no ';' in paths, '*' is one plain segment", () => {
  test("'..;' and friends fall back not_allowed and never reach the upstream", async (t) => {
    const b = await backend(t);
    const srv = await server(t, {
      backends: [b.origin],
      paths: ['/livewire/update', '/livewire-*/update', '/api/*/update'],
    });
    const s = await socket(t, srv, { origin: PAGE });
    const bad = [
      '/livewire-..;/update',
      '/livewire-;x=y/update',
      '/livewire-@evil.example/update',
      '/api/..;/update',
      '/livewire/update;jsessionid=x',
    ];
    for (const [i, path] of bad.entries()) {
      s.request({ id: `p${i}`, path });
      assert.equal((await s.fallback(`p${i}`)).code, 'not_allowed', path);
    }
    s.request({ id: 'ok', path: '/livewire-3fa2c1d8/update' });
    assert.equal((await s.response('ok')).status, 200);
    assert.equal(b.seen.length, 1);
  });
});
