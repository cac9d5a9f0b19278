/**
 * The session sync of the Livewire tunnel (src/livewire/session-sync.ts) over real sockets and real
 * HTTP: a `ws` client gets its connection's token with `wiremesh:session`, a real HTTP upstream
 * sets cookies through the tunnel, and `POST /wiremesh/session` (node's fetch, as the page's would
 * be) swaps them: the browser gets the upstream's Set-Cookie, the jar takes the browser's cookies.
 * The browser end to end: test/e2e-livewire-session.test.ts.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TestBackend, type Echo } from './helpers/livewire-backend.js';
import { TunnelSocket, type ResponseData } from './helpers/livewire-socket.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { track } from './helpers/track.js';

// wiremesh and the page on the same host (127.0.0.1), other ports: the browser shares cookies between them.
const PAGE = 'http://127.0.0.1:8000';
async function setup(t: TestContext): Promise<{ b: TestBackend; srv: TestServer }> {
  const b = track(t, await TestBackend.start());
  const srv = track(
    t,
    await startTestServer({ apps: [testApp({ livewire: { backends: [b.origin], publicUrl: PAGE } })] }),
  );
  return { b, srv };
}

async function socket(t: TestContext, srv: TestServer, headers: Record<string, string>): Promise<TunnelSocket> {
  return track(t, await TunnelSocket.open(srv.port, headers));
}

interface SessionData {
  token: string;
  sync: boolean;
  reason: string;
  path: string;
}

async function session(s: TunnelSocket, data: Record<string, unknown> = {}): Promise<SessionData> {
  s.send('wiremesh:session', data);
  return (await s.next((f) => f.event === 'wiremesh:session', 'wiremesh:session')).data as SessionData;
}

function sync(srv: TestServer, token: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`http://127.0.0.1:${srv.port}/wiremesh/session`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', ...headers },
    body: token,
  });
}

const echoOf = (r: ResponseData): Echo => JSON.parse(r.body) as Echo;

describe('livewire session sync', () => {
  test("cookies the upstream set through the tunnel reach the browser; the browser's cookies reach the jar", async (t) => {
    const { srv } = await setup(t);
    const s = await socket(t, srv, { origin: PAGE, cookie: 'laravel_session=old; theme=dark' });
    const info = await session(s);
    assert.equal(info.sync, true, info.reason);
    assert.equal(info.path, '/wiremesh/session');
    assert.match(info.token, /^[A-Za-z0-9_-]{32}$/);

    // A login inside a tunnelled update: the upstream rotates the session.
    const set = encodeURIComponent('laravel_session=new; Path=/; HttpOnly; SameSite=Lax');
    const unset = encodeURIComponent('theme=; Max-Age=0');
    const plain = encodeURIComponent('nopath=1');
    s.request({ id: 'login', path: `/livewire/update?set=${set}&set=${unset}&set=${plain}` });
    assert.deepEqual((await s.response('login')).setCookies, ['laravel_session', 'theme', 'nopath']);

    const res = await sync(srv, info.token, { origin: PAGE, cookie: 'laravel_session=old; theme=dark' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), PAGE);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.deepEqual(res.headers.getSetCookie(), [
      'laravel_session=new; Path=/; HttpOnly; SameSite=Lax',
      'theme=; Max-Age=0; Path=/livewire',
      'nopath=1; Path=/livewire',
    ]);
    assert.deepEqual(await res.json(), { set: ['laravel_session', 'theme', 'nopath'] });
    // Handed over once only.
    const again = await sync(srv, info.token, { origin: PAGE, cookie: 'laravel_session=new; nopath=1' });
    assert.deepEqual(again.headers.getSetCookie(), []);

    // The session rotated over HTTP: the browser says so with its cookies; the next update carries them.
    await sync(srv, info.token, { origin: PAGE, cookie: 'laravel_session=rotated; nopath=1' });
    s.request({ id: 'after', path: '/livewire/update' });
    assert.deepEqual(echoOf(await s.response('after')).cookies, { laravel_session: 'rotated', nopath: '1' });
  });

  test('a cookie re-set to what the browser holds is not handed over, unless its page is older than a quarter of its lifetime', async (t) => {
    const { srv } = await setup(t);
    const same = encodeURIComponent('theme=dark; Path=/; Max-Age=3600');
    const young = await socket(t, srv, { origin: PAGE, cookie: 'theme=dark' });
    await session(young, { pageAgeMs: 2_000 });
    young.request({ id: 'a', path: `/livewire/update?set=${same}` });
    assert.deepEqual((await young.response('a')).setCookies, [], 'the browser holds it: no sync');
    young.request({ id: 'b', path: `/livewire/update?set=${encodeURIComponent('theme=light; Path=/; Max-Age=3600')}` });
    assert.deepEqual((await young.response('b')).setCookies, ['theme'], 'changed');

    // A socket opened 20 minutes after its page loaded: the handshake's copy is as old as the page,
    // past a quarter of its hour: handed over again, so that the browser's copy does not run out.
    const old = await socket(t, srv, { origin: PAGE, cookie: 'theme=dark' });
    const { token } = await session(old, { pageAgeMs: 20 * 60_000 });
    old.request({ id: 'c', path: `/livewire/update?set=${same}` });
    assert.deepEqual((await old.response('c')).setCookies, ['theme']);
    const res = await sync(srv, token, { origin: PAGE, cookie: 'theme=dark' });
    assert.deepEqual(res.headers.getSetCookie(), ['theme=dark; Path=/; Max-Age=3600']);
    old.request({ id: 'd', path: `/livewire/update?set=${same}` });
    assert.deepEqual((await old.response('d')).setCookies, [], 'fresh since the sync');
  });

  test('another Origin, an unknown token, or the token of a closed connection: 403, nothing changes', async (t) => {
    const { srv } = await setup(t);
    const s = await socket(t, srv, { origin: PAGE, cookie: 'laravel_session=victim' });
    const { token } = await session(s);
    s.request({ id: 'x', path: `/livewire/update?set=${encodeURIComponent('laravel_session=fresh; Path=/')}` });
    await s.response('x');
    for (const [headers, tok] of [
      [{ origin: 'https://evil.example', cookie: 'laravel_session=attacker' }, token],
      [{ cookie: 'laravel_session=attacker' }, token],
      [{ origin: PAGE, cookie: 'laravel_session=attacker' }, 'not-a-token'],
      [{ origin: PAGE, cookie: 'laravel_session=attacker' }, ''],
    ] as const) {
      const res = await sync(srv, tok, headers);
      assert.equal(res.status, 403);
      assert.deepEqual(res.headers.getSetCookie(), [], 'no cookie handed out');
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    }
    s.request({ id: 'y', path: '/livewire/update' });
    assert.equal(echoOf(await s.response('y')).cookies.laravel_session, 'fresh', 'the jar was not replaced');
    s.close();
    await s.closed;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await sync(srv, token, { origin: PAGE })).status, 403, 'a closed connection has no token any more');
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/wiremesh/session`)).status, 405);
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/wiremesh/other`, { method: 'POST' })).status, 404);
    const refused = srv.logs.filter((l) => l.includes('"msg":"livewire session sync refused"'));
    assert.ok(
      refused.length >= 1 && refused.length <= 2,
      `logged once per episode (by status), with the client: ${refused.length}`,
    );
    assert.ok(refused.every((l) => l.startsWith('{"level":40,') && l.includes('"client":"')));
  });

  test('wiremesh on another host than the page: sync false, no token (the client keeps updates on HTTP)', async (t) => {
    const { srv } = await setup(t);
    const s = await socket(t, srv, { origin: PAGE, host: `ws.example.test:${srv.port}` });
    const info = await session(s);
    assert.equal(info.sync, false);
    assert.equal(info.token, '');
    assert.match(info.reason, /ws\.example\.test, not at the page's host 127\.0\.0\.1/);
    const hostLine = srv.logs.find((l) => l.includes("a page's Livewire updates go over HTTP"));
    assert.ok(hostLine, 'the server says why the page will not use the tunnel');
    const logged = JSON.parse(hostLine) as Record<string, string>;
    assert.equal(logged.code, 'cookies_cannot_follow');
    assert.equal(logged.client, PAGE);
    assert.match(logged.fix!, /VITE_PUSHER_HOST/);
    const foreign = await socket(t, srv, { origin: 'https://evil.example' });
    assert.deepEqual(
      { ...(await session(foreign)), reason: '' },
      { token: '', sync: false, reason: '', path: '/wiremesh/session', maxFrameBytes: 256 * 1024 },
    );
    await session(await socket(t, srv, { origin: 'https://evil.example' }));
    const originLines = srv.logs.filter((l) => l.includes('"code":"origin_not_allowed"'));
    assert.equal(originLines.length, 1, 'once per origin and episode');
    const refused = JSON.parse(originLines[0]!) as Record<string, string>;
    assert.equal(refused.client, 'https://evil.example');
    assert.match(refused.fix!, /livewire\.publicUrl or allowedOrigins/);
  });
});
