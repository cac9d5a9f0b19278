import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../log/logger.js';
import type { HttpRequest, UpgradeInfo } from '../transport/types.js';
import { CookieJar } from './cookies.js';
import { TrustedProxies } from './headers.js';
import { SESSION_PATH, SessionSync } from './session-sync.js';

const PAGE = 'https://app.example.test';
const handshake = (host: string): UpgradeInfo => ({
  path: '/app/k',
  query: '',
  headers: { host },
  remoteAddress: '10.0.0.9',
});
const post = (token: string, headers: Record<string, string> = {}): HttpRequest => ({
  method: 'POST',
  path: SESSION_PATH,
  query: '',
  headers: { origin: PAGE, ...headers },
  body: Buffer.from(token),
  remoteAddress: '10.0.0.9',
});

function setup(): { sessions: SessionSync; target: { jar: CookieJar; origins: string[] } } {
  const sessions = new SessionSync({ logger: createLogger({ level: 'silent' }) });
  return { sessions, target: { jar: CookieJar.fromHeader('s=old'), origins: [PAGE] } };
}

test('offer: one token per connection when wiremesh is on the page host; none elsewhere', () => {
  const { sessions, target } = setup();
  const proxies = new TrustedProxies([]);
  const page = new URL(PAGE);
  const first = sessions.offer({ target, handshake: handshake('app.example.test:6001'), page, proxies });
  assert.equal(first.sync, true);
  assert.equal(first.path, SESSION_PATH);
  assert.ok(first.token.length > 20);
  assert.equal(sessions.offer({ target, handshake: handshake('app.example.test'), page, proxies }).token, first.token);
  const elsewhere = sessions.offer({ target, handshake: handshake('ws.example.test'), page, proxies });
  assert.deepEqual([elsewhere.sync, elsewhere.token], [false, '']);
  assert.match(elsewhere.reason, /not at the page's host app\.example\.test/);
  const noPage = sessions.offer({ target, handshake: handshake('app.example.test'), page: null, proxies });
  assert.deepEqual([noPage.sync, noPage.token], [false, '']);
});

test('http: the token swaps the jar for the browser cookies and hands over what the upstream set', () => {
  const { sessions, target } = setup();
  const { token } = sessions.offer({
    target,
    handshake: handshake('app.example.test'),
    page: new URL(PAGE),
    proxies: new TrustedProxies([]),
  });
  target.jar.apply('laravel_session=new; Path=/; HttpOnly');
  const res = sessions.http(post(token, { cookie: 's=browser' }));
  assert.equal(res.status, 200);
  assert.deepEqual(res.headers?.['set-cookie'], ['laravel_session=new; Path=/; HttpOnly']);
  assert.equal(res.headers?.['access-control-allow-origin'], PAGE);
  assert.equal(target.jar.get('s'), 'browser');
  // Re-set to what the browser now holds: nothing for the browser, the next sync hands over nothing.
  assert.equal(target.jar.apply('laravel_session=new; Path=/; HttpOnly'), null);
  const again = sessions.http(post(token, { cookie: 's=browser; laravel_session=new' }));
  assert.deepEqual([again.status, again.headers?.['set-cookie'], again.body], [200, undefined, '{"set":[]}']);
  assert.equal(sessions.http(post(token, { origin: 'https://evil.example' })).status, 403);
  assert.equal(sessions.http({ ...post(token), method: 'GET' }).status, 405);
  assert.equal(sessions.http({ ...post(token), path: '/wiremesh/other' }).status, 404);
  sessions.forget(target);
  assert.equal(sessions.http(post(token)).status, 403, 'a closed connection’s token is spent');
});
