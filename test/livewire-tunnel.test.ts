/**
 * The Livewire tunnel end to end: a real wiremesh with a `livewire` app section, a real HTTP
 * backend (node:http) standing in for Laravel, and real clients: pusher-js (as the browser bundle
 * shares it with Echo) and raw `ws` sockets where the handshake headers matter.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connected, pusherClient, sleep, until } from './helpers/clients.js';
import { TestBackend, type Echo } from './helpers/livewire-backend.js';
import { TunnelSocket, type FallbackData, type ResponseData } from './helpers/livewire-socket.js';
import { freePort, startTestServer, testApp, type TestServer } from './helpers/server.js';
import { suiteScope, track, type Scope } from './helpers/track.js';

const PAGE = 'https://app.example.test';
async function backend(t: Scope): Promise<TestBackend> {
  return track(t, await TestBackend.start());
}

/** A wiremesh whose test app tunnels to `livewire.backends` (publicUrl PAGE unless given); more apps may follow. */
async function serverOn(
  t: Scope,
  livewire: Record<string, unknown>,
  more: Record<string, unknown>[] = [],
  transport = 'auto',
): Promise<TestServer> {
  const s = await startTestServer({
    transport,
    apps: [testApp({ livewire: { publicUrl: PAGE, ...livewire } }), ...more],
  });
  return track(t, s);
}

const server = (
  t: Scope,
  livewire: Record<string, unknown>,
  more: Record<string, unknown>[] = [],
): Promise<TestServer> => serverOn(t, livewire, more);

/** `ws` always; `uws` where its native package loads on this machine. */
async function transports(): Promise<string[]> {
  try {
    await (await startTestServer({ transport: 'uws' })).close();
    return ['ws', 'uws'];
  } catch (err) {
    if (err instanceof Error && /could not be loaded/.test(err.message)) return ['ws'];
    throw err;
  }
}

async function socket(
  t: Scope,
  srv: TestServer,
  headers: Record<string, string> = {},
  key?: string,
): Promise<TunnelSocket> {
  return track(t, await TunnelSocket.open(srv.port, { origin: PAGE, ...headers }, key));
}

const echoOf = (r: ResponseData): Echo => JSON.parse(r.body) as Echo;

for (const transport of await transports()) {
  describe(`livewire tunnel over the ${transport} transport: requests and responses`, () => {
    let b: TestBackend;
    let srv: TestServer;
    const server = (t: Scope, livewire: Record<string, unknown>): Promise<TestServer> =>
      serverOn(t, livewire, [], transport);
    const suite = suiteScope();

    before(async () => {
      b = await backend(suite);
      srv = await server(suite, {
        backends: [b.origin],
        publicUrl: PAGE,
        paths: ['/livewire/update', '/livewire-*/update', '/broadcasting/auth', '/landing'],
      });
      assert.equal(srv.server.transport, transport);
    });

    test('a Livewire update comes back as the backend answered it', async (t) => {
      const s = await socket(t, srv);
      const socketId = s.socketId;
      const body = JSON.stringify({
        _token: 'csrf',
        components: [{ snapshot: '{"data":{"count":1}}', updates: {}, calls: [{ method: 'increment', params: [] }] }],
      });
      s.send('wiremesh:request', {
        id: 'r1',
        method: 'POST',
        path: '/livewire/update?v=3',
        headers: {
          'content-type': 'application/json',
          'x-livewire': '',
          'x-csrf-token': 'csrf',
          'x-socket-id': 'forged',
          'x-evil': '1',
        },
        body,
      });
      const res = await s.response('r1');
      assert.equal(res.id, 'r1');
      assert.equal(res.status, 200);
      assert.equal(res.statusText, 'OK');
      assert.equal(res.done, true);
      assert.equal(res.redirected, false);
      assert.equal(res.url, `${PAGE}/livewire/update?v=3`);
      assert.ok(res.headers.some(([n, v]) => n === 'content-type' && v === 'application/json'));
      assert.ok(!res.headers.some(([n]) => n === 'connection' || n === 'keep-alive' || n === 'transfer-encoding'));
      const echo = echoOf(res);
      assert.equal(echo.method, 'POST');
      assert.equal(echo.path, '/livewire/update?v=3');
      assert.equal(echo.body, body);
      assert.equal(echo.headers['content-type'], 'application/json');
      assert.equal(echo.headers['x-livewire'], '');
      assert.equal(echo.headers['x-csrf-token'], 'csrf');
      assert.equal(echo.headers['x-socket-id'], socketId, 'X-Socket-ID is the socket id, whatever the client sent');
      assert.equal(echo.headers['x-evil'], undefined);
      assert.equal(echo.headers['x-forwarded-host'], 'app.example.test');
      assert.equal(echo.headers['x-forwarded-proto'], 'https');
    });

    test('pusher-js outside a browser sends no Origin: its requests fall back (not_allowed), the backend sees none', async (t) => {
      const client = track(t, pusherClient(srv.port));
      await connected(client);
      const frames: Array<{ event: string; data: unknown }> = [];
      client.connection.bind('message', (m: { event: string; data: unknown }) => frames.push(m));
      const before = b.seen.length;
      client.send_event('wiremesh:request', {
        id: 'p1',
        method: 'POST',
        path: '/livewire/update',
        headers: {},
        body: '{}',
      });
      await until(() => frames.some((f) => f.event === 'wiremesh:fallback'), 'wiremesh:fallback');
      assert.equal((frames.find((f) => f.event === 'wiremesh:fallback')!.data as FallbackData).code, 'not_allowed');
      assert.equal(b.seen.length, before);
    });

    test('several requests in flight are answered by id, in the order the backend finishes them', async (t) => {
      const s = await socket(t, srv);
      const delays = [250, 50, 150, 0, 100];
      delays.forEach((d, i) => s.request({ id: `m${i}`, path: `/livewire/update?delay=${d}`, body: `{"i":${i}}` }));
      const answers = await Promise.all(delays.map((_, i) => s.response(`m${i}`)));
      answers.forEach((r, i) => assert.equal(echoOf(r).body, `{"i":${i}}`));
      const order = s.frames.filter((f) => f.event === 'wiremesh:response').map((f) => (f.data as ResponseData).id);
      assert.deepEqual(order, ['m3', 'm1', 'm4', 'm2', 'm0']);
    });

    test('handshake headers reach the backend: X-Forwarded-For is the client address, User-Agent, Origin', async (t) => {
      const s = await socket(t, srv, {
        'x-forwarded-for': '203.0.113.7',
        'user-agent': 'TestBrowser/1.0',
        'accept-language': 'de',
      });
      s.request({ id: 'h', path: '/livewire/update' });
      const echo = echoOf(await s.response('h'));
      assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1', 'the chain of an untrusted peer is dropped');
      assert.equal(echo.headers['user-agent'], 'TestBrowser/1.0');
      assert.equal(echo.headers['accept-language'], 'de');
      assert.equal(echo.headers.origin, PAGE);
      assert.equal(echo.headers['x-forwarded-port'], '443');
      assert.equal(echo.headers['x-socket-id'], s.socketId);
    });

    test('the cookie jar: seeded from the handshake, updated by Set-Cookie, deletions respected', async (t) => {
      const s = await socket(t, srv, { cookie: 'laravel_session=abc; XSRF-TOKEN=t1; theme=dark' });
      const set = encodeURIComponent('laravel_session=def; Path=/; HttpOnly; SameSite=Lax');
      const del = encodeURIComponent('theme=; Max-Age=0; Path=/');
      s.request({ id: 'c1', path: `/livewire/update?set=${set}&set=${del}` });
      const first = await s.response('c1');
      assert.deepEqual(echoOf(first).cookies, { laravel_session: 'abc', 'XSRF-TOKEN': 't1', theme: 'dark' });
      assert.deepEqual(first.setCookies.sort(), ['laravel_session', 'theme']);
      assert.ok(!first.headers.some(([n]) => n === 'set-cookie'), 'Set-Cookie is reported by name, not passed on');
      s.request({ id: 'c2', path: '/livewire/update' });
      assert.deepEqual(echoOf(await s.response('c2')).cookies, { laravel_session: 'def', 'XSRF-TOKEN': 't1' });
      // Another connection of the same browser has its own jar, from its own handshake.
      const other = await socket(t, srv, { cookie: 'laravel_session=abc' });
      other.request({ id: 'c3', path: '/livewire/update' });
      assert.deepEqual(echoOf(await other.response('c3')).cookies, { laravel_session: 'abc' });
    });

    test('backend errors (419, 500) are responses, passed through as over HTTP', async (t) => {
      const s = await socket(t, srv);
      for (const status of [419, 500, 404]) {
        s.request({ id: `e${status}`, path: `/livewire/update?status=${status}` });
        const r = await s.response(`e${status}`);
        assert.equal(r.status, status);
        assert.equal(r.body, `<html>status ${status}</html>`);
        assert.equal(r.done, true);
      }
      assert.equal((await s.response('e500')).statusText, 'Internal Server Error');
    });

    test('a same-origin redirect is followed (POST becomes GET), with redirected and the final url', async (t) => {
      const s = await socket(t, srv);
      const before = b.seen.length;
      s.request({ id: 'rd1', path: `/livewire/update?redirect=${encodeURIComponent('/landing?from=update')}` });
      const r = await s.response('rd1');
      assert.equal(r.status, 200);
      assert.equal(r.redirected, true);
      assert.equal(r.url, `${PAGE}/landing?from=update`);
      assert.deepEqual(
        b.seen.slice(before).map((x) => `${x.method} ${x.path}`),
        ['POST /livewire/update', 'GET /landing'],
      );
      assert.equal(echoOf(r).headers['content-type'], undefined, 'the GET carries no body headers');
      // An absolute Location on the page's origin is the same origin; 307 keeps the method and body.
      s.request({
        id: 'rd2',
        path: `/livewire/update?code=307&redirect=${encodeURIComponent(`${PAGE}/landing`)}`,
        body: '{"k":1}',
      });
      const r2 = await s.response('rd2');
      assert.equal(r2.redirected, true);
      assert.equal(r2.url, `${PAGE}/landing`);
      assert.equal(echoOf(r2).method, 'POST');
      assert.equal(echoOf(r2).body, '{"k":1}');
    });

    test('a redirect to another origin is left to the browser: fallback', async (t) => {
      const s = await socket(t, srv);
      s.request({ id: 'x1', path: `/livewire/update?redirect=${encodeURIComponent('https://sso.example.org/login')}` });
      const f = await s.fallback('x1');
      assert.equal(f.code, 'not_allowed');
      assert.match(f.reason, /another origin/);
    });

    test('a wire:stream response arrives in chunks while the backend is still writing', async (t) => {
      const s = await socket(t, srv);
      const finishedBefore = b.streamsFinished;
      s.request({ id: 'st', path: '/livewire/update?stream=4' });
      const head = (await s.answer('st')).data as ResponseData;
      assert.equal(head.done, false);
      assert.equal(head.status, 200);
      assert.ok(head.headers.some(([n]) => n === 'x-livewire-stream'));
      await s.next((f) => f.event === 'wiremesh:chunk' && (f.data as { id: string }).id === 'st', 'first chunk');
      assert.equal(b.streamsFinished, finishedBefore, 'the first chunk came before the backend finished');
      const r = await s.response('st');
      assert.equal(b.streamsFinished, finishedBefore + 1);
      assert.ok(r.chunks >= 4, `chunks: ${r.chunks}`);
      const expected =
        [0, 1, 2, 3].map((i) => `{"stream":true,"body":{"n":${i}},"endStream":${i === 3}}`).join('') +
        '{"components":[]}';
      assert.equal(r.body, expected);
    });

    test('a large body is split into chunk frames and arrives whole (UTF-8 intact)', async (t) => {
      const s = await socket(t, srv);
      s.request({ id: 'big', path: '/livewire/update?big=600001' });
      const r = await s.response('big');
      assert.ok(r.chunks >= 2, `chunks: ${r.chunks}`);
      assert.equal(r.body, 'é'.repeat(300_000) + 'x');
    });

    test('a body far over the socket buffer limit is paced, not cut off as a slow client', async (t) => {
      const maxBufferedBytes = 64 * 1024;
      const paced = track(
        t,
        await startTestServer({
          transport,
          limits: { maxBufferedBytes },
          apps: [testApp({ maxEventPayloadBytes: 32 * 1024, livewire: { backends: [b.origin], publicUrl: PAGE } })],
        }),
      );
      const s = await socket(t, paced);
      s.stall(500);
      s.request({ id: 'paced', path: '/livewire/update?big=8000000' });
      const r = await s.response('paced', 10_000);
      assert.equal(r.body.length, 4_000_000);
      assert.ok(r.chunks > 400, `chunks: ${r.chunks}`);
      await s.roundTrip();
    });

    test('Livewire 4 hashed path and Echo authorization are tunnelled', async (t) => {
      const s = await socket(t, srv);
      s.request({
        id: 'v4',
        path: '/livewire-3fa2c1d8/update',
        headers: { 'content-type': 'application/json', 'x-livewire': '1' },
      });
      assert.equal(echoOf(await s.response('v4')).headers['x-livewire'], '1');
      s.request({
        id: 'auth',
        path: '/broadcasting/auth',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'socket_id=1.2&channel_name=private-x',
      });
      const r = await s.response('auth');
      assert.equal(echoOf(r).body, 'socket_id=1.2&channel_name=private-x');
    });

    test('refused requests fall back (not_allowed) and never reach the backend', async (t) => {
      const s = await socket(t, srv);
      const before = b.seen.length;
      const refused: Array<[string, Record<string, unknown>]> = [
        ['path', { path: '/admin/users' }],
        ['method', { path: '/livewire/update', method: 'PUT' }],
        ['absolute', { path: 'http://evil.example/livewire/update' }],
        ['scheme-relative', { path: '//evil.example/livewire/update' }],
        ['dotdot', { path: '/livewire/../admin' }],
        ['encoded dotdot', { path: '/livewire/%2e%2e/admin' }],
        ['encoded slash', { path: '/livewire%2Fupdate' }],
        ['backslash', { path: '/livewire\\update' }],
        ['prefix only', { path: '/livewire/update/extra' }],
        ['wildcard across segments', { path: '/livewire-a/b/update' }],
        ['GET with a body', { path: '/livewire/update', method: 'GET', body: 'x' }],
        ['bad header', { path: '/livewire/update', headers: { 'x-livewire': 5 } }],
      ];
      for (const [name, data] of refused) s.send('wiremesh:request', { id: name, body: '', ...data });
      for (const [name] of refused) {
        const f = await s.fallback(name);
        assert.equal(f.code, 'not_allowed', name);
      }
      await sleep(50);
      assert.equal(b.seen.length, before, 'the backend saw none of them');
    });

    test('a body over maxRequestBytes falls back (too_large)', async (t) => {
      const small = await server(t, { backends: [b.origin], publicUrl: PAGE, maxRequestBytes: 1000 });
      const s = await socket(t, small);
      const before = b.seen.length;
      s.request({ id: 'tl', path: '/livewire/update', body: 'x'.repeat(1001) });
      assert.equal((await s.fallback('tl')).code, 'too_large');
      s.request({ id: 'ok', path: '/livewire/update', body: 'é'.repeat(500) });
      assert.equal((await s.response('ok')).status, 200);
      assert.equal(b.seen.length, before + 1);
    });

    test('a response over maxResponseBytes is answered 502, not passed on', async (t) => {
      const small = await server(t, { backends: [b.origin], publicUrl: PAGE, maxResponseBytes: 1000 });
      const s = await socket(t, small);
      s.request({ id: 'rl', path: '/livewire/update?big=5000' });
      const r = await s.response('rl');
      assert.equal(r.status, 502);
      assert.equal(r.body, 'Response too large for the tunnel');
      assert.ok(small.logs.some((l) => l.includes('livewire response too large') && l.includes('"appId":"app-id"')));
    });

    test('an Origin other than publicUrl may not use the tunnel', async (t) => {
      const s = await socket(t, srv, { origin: 'https://evil.example' });
      s.request({ id: 'o', path: '/livewire/update' });
      assert.equal((await s.fallback('o')).code, 'not_allowed');
    });

    test('frames without a usable id are protocol errors', async (t) => {
      const s = await socket(t, srv);
      s.send('wiremesh:request', { path: '/livewire/update' });
      s.send('wiremesh:nonsense', { id: 'z' });
      await s.roundTrip();
      const errors = s.frames
        .filter((f) => f.event === 'pusher:error')
        .map((f) => f.data as { code: number; message: string });
      assert.equal(errors.length, 2);
      assert.ok(errors.every((e) => e.code === 4302));
    });

    test('metrics count tunnelled requests by status, fallbacks by reason, and latency', async () => {
      const text = await (await fetch(`${srv.httpUrl}/metrics`)).text();
      assert.match(text, /wiremesh_livewire_requests_total\{app="app-id",status="200"\} \d+/);
      assert.match(text, /wiremesh_livewire_requests_total\{app="app-id",status="419"\} 1/);
      assert.match(text, /wiremesh_livewire_fallbacks_total\{app="app-id",reason="not_allowed"\} \d+/);
      assert.match(text, /# TYPE wiremesh_livewire_request_duration_seconds histogram/);
      assert.match(text, /wiremesh_livewire_request_duration_seconds_bucket\{app="app-id",le="\+Inf"\} \d+/);
      assert.match(text, /wiremesh_livewire_request_duration_seconds_count\{app="app-id"\} \d+/);
    });
  });

  describe(`livewire tunnel over the ${transport} transport: in flight, aborts, closes`, () => {
    let b: TestBackend;
    let srv: TestServer;
    const server = (t: Scope, livewire: Record<string, unknown>): Promise<TestServer> =>
      serverOn(t, livewire, [], transport);
    const suite = suiteScope();

    before(async () => {
      b = await backend(suite);
      srv = await server(suite, { backends: [b.origin], publicUrl: PAGE, maxInFlight: 2, timeoutMs: 2_000 });
    });

    test('wiremesh:abort: nothing is answered for it; the backend exchange still runs to its end', async (t) => {
      const s = await socket(t, srv);
      s.request({ id: 'a1', path: '/livewire/update?delay=300&n=a1' });
      await until(() => b.seen.some((x) => x.url.includes('n=a1')), 'backend got the request');
      s.abort('a1');
      s.request({ id: 'a2', path: '/livewire/update' });
      await s.response('a2');
      await sleep(500);
      assert.deepEqual(s.of('a1'), []);
      assert.ok(!b.closed.some((u) => u.includes('n=a1')), 'the backend was not cut off mid-request');
    });

    test('more than maxInFlight on one connection: busy; an aborted request keeps its slot until its backend exchange ended', async (t) => {
      const s = await socket(t, srv);
      s.request({ id: 'b1', path: '/livewire/update?delay=600&n=b1' });
      s.request({ id: 'b2', path: '/livewire/update?hang=1&n=b2' });
      s.request({ id: 'b3', path: '/livewire/update' });
      assert.equal((await s.fallback('b3')).code, 'busy');
      // Other connections have their own allowance.
      const other = await socket(t, srv);
      other.request({ id: 'o1', path: '/livewire/update' });
      assert.equal((await other.response('o1')).status, 200);
      s.abort('b1');
      await s.roundTrip();
      s.request({ id: 'b4', path: '/livewire/update' });
      assert.equal((await s.fallback('b4')).code, 'busy', 'the aborted request still holds its slot');
      await until(() => b.seen.filter((x) => x.url.includes('n=b1')).length === 1 && Date.now() > 0, 'b1 seen');
      await sleep(700);
      s.request({ id: 'b5', path: '/livewire/update' });
      assert.equal((await s.response('b5')).status, 200, 'its slot is free once the backend answered it');
      assert.deepEqual(s.of('b1'), []);
      s.abort('b2');
    });

    test('a backend that does not answer within timeoutMs gives 504', async (t) => {
      const quick = await server(t, { backends: [b.origin], publicUrl: PAGE, timeoutMs: 300 });
      const s = await socket(t, quick);
      s.request({ id: 't', path: '/livewire/update?hang=1&n=t' });
      const r = await s.response('t');
      assert.equal(r.status, 504);
      assert.equal(r.statusText, 'Gateway Timeout');
    });

    test('closing the connection aborts its backend requests', async (t) => {
      const s = await socket(t, srv);
      s.request({ id: 'k', path: '/livewire/update?hang=1&n=close' });
      await until(() => b.seen.some((x) => x.url.includes('n=close')), 'backend got the request');
      s.close();
      await until(() => b.closed.some((u) => u.includes('n=close')), 'backend request aborted on close');
    });
  });
}

describe('livewire tunnel: choosing a backend', () => {
  test('the first backend down: the next one answers, and the dead one is skipped afterwards', async (t) => {
    const live = await backend(t);
    const dead = `http://127.0.0.1:${await freePort()}`;
    const srv = await server(t, { backends: [dead, live.origin], publicUrl: PAGE, healthIntervalMs: 60_000 });
    const s = await socket(t, srv);
    s.request({ id: 'd1', path: '/livewire/update' });
    const r = await s.response('d1');
    assert.equal(r.status, 200);
    assert.ok(r.headers.some(([n, v]) => n === 'x-backend' && v === String(live.port)));
    s.request({ id: 'd2', path: '/livewire/update' });
    assert.equal((await s.response('d2')).status, 200);
    const downs = srv.logs.filter((l) => l.includes('livewire upstream down') && l.includes(dead));
    assert.equal(downs.length, 1, 'marked down once, then skipped until a health check passes');
    assert.equal(live.seen.length, 2);
  });

  test('an unhealthy backend is skipped, and used again after a health check passes', async (t) => {
    const [near, far] = [await backend(t), await backend(t)];
    const srv = await server(t, { backends: [near.origin, far.origin], publicUrl: PAGE, healthIntervalMs: 100 });
    const s = await socket(t, srv);
    let n = 0;
    const served = async (): Promise<string> => {
      const id = `u${n++}`;
      s.request({ id, path: '/livewire/update' });
      return (await s.response(id)).headers.find(([h]) => h === 'x-backend')![1];
    };
    assert.equal(await served(), String(near.port));
    near.healthy = false;
    const checks = near.healthChecks;
    await until(() => near.healthChecks > checks + 1, 'a failed health check');
    assert.equal(await served(), String(far.port));
    near.healthy = true;
    await until(() => srv.logs.some((l) => l.includes('livewire upstream up')), 'backend up again', 3_000);
    assert.equal(await served(), String(near.port));
  });

  test('no healthy backend: backend_unavailable, so the browser uses HTTP', async (t) => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const srv = await server(t, { backends: [dead], publicUrl: PAGE, healthIntervalMs: 60_000 });
    const s = await socket(t, srv);
    s.request({ id: 'n1', path: '/livewire/update' });
    assert.equal((await s.fallback('n1')).code, 'backend_unavailable');
    s.request({ id: 'n2', path: '/livewire/update' });
    const f: FallbackData = await s.fallback('n2');
    assert.equal(f.code, 'backend_unavailable');
    assert.match(f.reason, /no healthy backend/);
    const logged = srv.logs.filter((l) => l.includes('livewire requests go over HTTP: no upstream is healthy'));
    assert.equal(logged.length, 1, 'logged once for the episode, not per request');
    const line = JSON.parse(logged[0]!) as Record<string, unknown>;
    assert.equal(line.level, 40);
    assert.equal(line.code, 'backend_unavailable');
    assert.match(String(line.fix), /livewire\.healthIntervalMs/);
  });

  test('backends found by DNS (A and AAAA answers of the name)', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { dns: { name: 'localhost', port: b.port }, publicUrl: PAGE });
    const s = await socket(t, srv);
    s.request({ id: 'dns', path: '/livewire/update' });
    const r = await s.response('dns');
    assert.equal(r.status, 200);
    assert.ok(r.headers.some(([n, v]) => n === 'x-backend' && v === String(b.port)));
  });
});

describe('livewire tunnel: apps without it', () => {
  test('an app without a livewire section answers fallback disabled', async (t) => {
    const b = await backend(t);
    const srv = await server(t, { backends: [b.origin] }, [{ id: 'plain', key: 'plain-key', secret: 'plain-secret' }]);
    const s = await socket(t, srv, {}, 'plain-key');
    s.request({ id: 'p', path: '/livewire/update' });
    assert.equal((await s.fallback('p')).code, 'disabled');
  });

  test('a server with no tunnel at all answers pusher:error 4302 (Unknown event)', async (t) => {
    const srv = track(t, await startTestServer());
    const s = await socket(t, srv);
    s.request({ id: 'q', path: '/livewire/update' });
    await s.roundTrip();
    const err = s.frames.find((f) => f.event === 'pusher:error')?.data as { code: number; message: string };
    assert.equal(err.code, 4302);
    assert.match(err.message, /Unknown event: wiremesh:request/);
  });
});
