/**
 * The pure parts of the Livewire tunnel: request targets and the allowed list (Livewire 3 and 4
 * paths), the cookie jar, header rules, frame pieces, the `livewire` config section, the histogram.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../src/config/errors.js';
import { livewireDefaults } from '../src/config/schema.js';
import { validateConfig } from '../src/config/validate.js';
import { CookieJar } from '../src/livewire/cookies.js';
import { pieces } from '../src/livewire/exchange.js';
import {
  clientOf,
  connectionHeaders,
  pageOrigin,
  pickClientHeaders,
  responseHeaders,
  TrustedProxies,
} from '../src/livewire/headers.js';
import { parseTarget, PathMatcher } from '../src/livewire/paths.js';
import { Fallback, readId, readRequest } from '../src/livewire/request.js';
import { MetricsRegistry } from '../src/metrics/registry.js';
import { PusherError } from '../src/errors.js';
import type { UpgradeInfo } from '../src/transport/types.js';

describe('request targets and the allowed list', () => {
  const matcher = new PathMatcher(livewireDefaults().paths);

  test('Livewire 3 and 4 update paths and Echo authorization are allowed by default', () => {
    for (const p of [
      '/livewire/update',
      '/livewire-3fa2c1d8/update',
      '/broadcasting/auth',
      '/broadcasting/user-auth',
    ]) {
      assert.equal(matcher.allows(p), true, p);
    }
    for (const p of [
      '/livewire/upload-file',
      '/livewire-/update',
      '/livewire-a/b/update',
      '/livewire/update/',
      '/',
      '/up',
    ]) {
      assert.equal(matcher.allows(p), false, p);
    }
  });

  test("no ';' in a path, and '*' stands for [A-Za-z0-9_-]+ only: '..;', '@host' and friends are refused", () => {
    for (const bad of ['/livewire-..;/update', '/livewire-;x=y/update', '/livewire/update;jsessionid=1', '/a;/b']) {
      assert.ok('refused' in parseTarget(bad), bad);
    }
    for (const p of [
      '/livewire-@evil.example/update',
      '/livewire-a.b/update',
      "/livewire-!$&'()*+,=:~/update",
      '/livewire-../update',
    ]) {
      assert.equal(matcher.allows(p), false, p);
    }
    assert.equal(matcher.allows('/livewire-Ab_9-z/update'), true);
  });

  test('a pattern only matches whole paths, and regex characters are literal', () => {
    const m = new PathMatcher(['/a.b/*.json']);
    assert.equal(m.allows('/a.b/x.json'), true);
    assert.equal(m.allows('/a.b/x.y.json'), false);
    assert.equal(m.allows('/aXb/x.json'), false);
    assert.equal(m.allows('/a.b/x.jsonp'), false);
  });

  test('targets: path and query split, unsafe forms refused', () => {
    assert.deepEqual(parseTarget('/livewire/update?a=b%20c&d'), {
      pathname: '/livewire/update',
      path: '/livewire/update?a=b%20c&d',
    });
    assert.deepEqual(parseTarget('/livewire/update?'), { pathname: '/livewire/update', path: '/livewire/update' });
    for (const bad of [
      '',
      'livewire/update',
      'http://evil/livewire/update',
      '//evil/livewire/update',
      '/\\evil',
      '/livewire/../admin',
      '/livewire/./update',
      '/livewire//update',
      '/livewire/%2e%2e/admin',
      '/livewire%2Fupdate',
      '/live wire',
      '/livewire/update#x',
      '/livewire/update?a=b#c',
      '/é',
      '/' + 'a'.repeat(5000),
      42,
    ]) {
      assert.ok('refused' in parseTarget(bad), String(bad));
    }
  });

  test('wiremesh:request data: id errors are PusherErrors, everything else a not_allowed Fallback', () => {
    assert.throws(() => readId({ path: '/x' }, 'wiremesh:request'), PusherError);
    assert.throws(() => readId({ id: 'x'.repeat(65) }, 'wiremesh:request'), PusherError);
    assert.throws(() => readId('not json', 'wiremesh:request'), PusherError);
    assert.equal(readId('{"id":"a"}', 'wiremesh:request').id, 'a');
    const ok = readRequest('r', {
      method: 'POST',
      path: '/livewire/update',
      headers: { 'Content-Type': 'application/json', Cookie: 'x=1' },
      body: 'é',
    });
    assert.deepEqual(ok.headers, { 'content-type': 'application/json' });
    assert.equal(ok.bodyBytes, 2);
    assert.equal(readRequest('g', { method: 'GET', path: '/x' }).body, '');
    for (const bad of [
      { method: 'DELETE', path: '/x' },
      { method: 'POST', path: '/x', body: 1 },
      { method: 'POST', path: '/x', headers: [] },
    ]) {
      assert.throws(
        () => readRequest('r', bad),
        (e: unknown) => e instanceof Fallback && e.code === 'not_allowed',
      );
    }
  });
});

describe('the cookie jar', () => {
  test('seeded from a Cookie header, first of a name wins', () => {
    const jar = CookieJar.fromHeader('a=1; b=x=y; a=2; bad; =v; c=');
    assert.equal(jar.header(), 'a=1; b=x=y; c=');
    assert.equal(CookieJar.fromHeader(undefined).header(), undefined);
  });

  test('Set-Cookie adds, replaces and deletes (Max-Age wins over Expires)', () => {
    const jar = CookieJar.fromHeader('s=old; t=1; u=1; v=1');
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.equal(jar.apply('s=new; Path=/; HttpOnly; Secure; SameSite=Lax', now), 's');
    assert.equal(jar.apply('t=; Max-Age=0', now), 't');
    assert.equal(jar.apply('u=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT', now), 'u');
    assert.equal(jar.apply('v=kept; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT', now), 'v');
    assert.equal(jar.apply('w=future; Expires=Fri, 01 Jan 2100 00:00:00 GMT', now), 'w');
    assert.equal(jar.apply('novalue', now), null);
    assert.equal(jar.header(), 's=new; v=kept; w=future');
  });

  test("a cookie goes only to the paths its Path matches (without one: the setting request's directory)", () => {
    const jar = CookieJar.fromHeader('session=1');
    jar.apply('admin=secret; Path=/admin', Date.now(), '/livewire/update');
    jar.apply('scoped=1', Date.now(), '/livewire/update'); // default path: /livewire
    jar.apply('session=2; Path=/admin', Date.now(), '/admin/x');
    assert.equal(jar.header('/livewire/update'), 'scoped=1; session=1');
    assert.equal(jar.header('/administrator'), 'session=1', '/admin does not match /administrator');
    assert.equal(jar.header('/admin/users?page=2'), 'admin=secret; session=2; session=1', 'longest path first');
    assert.equal(jar.get('session', '/admin'), '2');
    jar.apply('admin=; Max-Age=0; Path=/admin', Date.now(), '/');
    assert.equal(jar.header('/admin'), 'session=2; session=1');
  });

  test('a jar is bounded: the least recently set cookies go first', () => {
    const jar = new CookieJar();
    for (let i = 0; i < 100; i++) jar.apply(`c${i}=${i}`);
    assert.equal(jar.size, 64);
    assert.equal(jar.get('c0'), undefined);
    assert.equal(jar.get('c99'), '99');
    jar.apply(`big=${'x'.repeat(5_000)}`);
    assert.equal(jar.get('big'), undefined, 'a cookie over 4096 bytes is ignored, as browsers do');
    assert.equal(jar.size, 64);
    for (let i = 0; i < 10; i++) jar.apply(`k${i}=${'v'.repeat(4000)}`);
    assert.ok((jar.header() ?? '').length <= 16 * 1024 + 64 * 2);
    assert.equal(jar.get('k9')?.length, 4000);
  });
});

describe('headers', () => {
  const handshake = (headers: Record<string, string>, remoteAddress = '::ffff:198.51.100.4'): UpgradeInfo => ({
    path: '/app/k',
    query: 'protocol=7',
    headers,
    remoteAddress,
  });

  test('client headers: only the allowed list, lower-cased; bad values refused', () => {
    assert.deepEqual(
      pickClientHeaders({ 'X-Livewire': '1', Accept: 'text/html', Host: 'evil', 'X-Socket-Id': 'x', Cookie: 'a=b' }),
      {
        'x-livewire': '1',
        accept: 'text/html',
      },
    );
    assert.ok('refused' in pickClientHeaders({ 'x-csrf-token': 'a\r\nb' }));
    assert.ok('refused' in pickClientHeaders('x'));
    assert.deepEqual(pickClientHeaders(undefined), {});
  });

  test('client headers: values undici would refuse (control characters, above U+00FF) are refused here', () => {
    for (const bad of ['a\u0001b', 'text/\u0100', 'x\u007fy', 'a\u2028b']) {
      assert.ok('refused' in pickClientHeaders({ 'x-csrf-token': bad }), JSON.stringify(bad));
    }
    assert.deepEqual(pickClientHeaders({ accept: 'text/html;\tq=0.9, caf\u00e9' }), {
      accept: 'text/html;\tq=0.9, caf\u00e9',
    });
  });

  test('the page origin: only an allowed origin, named by the Origin header; missing, null and other sites refused', () => {
    const allowed = ['https://a.test', 'https://www.a.test'];
    assert.equal(pageOrigin(handshake({ origin: 'https://a.test' }), allowed)?.origin, 'https://a.test');
    assert.equal(pageOrigin(handshake({ origin: 'https://A.test:443' }), allowed)?.origin, 'https://a.test');
    assert.equal(pageOrigin(handshake({ origin: 'https://www.a.test' }), allowed)?.origin, 'https://www.a.test');
    assert.equal(pageOrigin(handshake({ origin: 'https://b.test' }), allowed), null);
    assert.equal(pageOrigin(handshake({ origin: 'https://a.test.evil.test' }), allowed), null);
    assert.equal(pageOrigin(handshake({ origin: 'http://a.test' }), allowed), null);
    assert.equal(pageOrigin(handshake({ origin: 'null' }), allowed), null);
    assert.equal(pageOrigin(handshake({ origin: '' }), allowed), null);
    assert.equal(pageOrigin(handshake({ host: 'a.test' }), allowed), null);
    assert.equal(pageOrigin(handshake({ origin: 'chrome-extension://x' }), allowed), null);
  });

  test('connection headers: forwarded host/port/proto from the configured page; the client chain only from a trusted proxy', () => {
    const none = new TrustedProxies([]);
    const h = connectionHeaders(
      handshake({
        'x-forwarded-for': '203.0.113.1, 10.0.0.2',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'evil.test',
        'user-agent': 'UA',
        origin: 'https://a.test',
        cookie: 'x=1',
      }),
      '123.456',
      new URL('https://a.test'),
      none,
    );
    assert.deepEqual(h, {
      'user-agent': 'UA',
      origin: 'https://a.test',
      'x-forwarded-for': '198.51.100.4',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'a.test',
      'x-forwarded-port': '443',
      'x-socket-id': '123.456',
      'accept-encoding': 'identity',
    });
    const proxies = new TrustedProxies(['198.51.100.0/24', '::1']);
    const behind = handshake({ 'x-forwarded-for': '203.0.113.1, junk, 10.0.0.2', 'x-forwarded-proto': 'http' });
    const t = connectionHeaders(behind, '1.1', new URL('http://a.test:8080'), proxies);
    assert.equal(t['x-forwarded-for'], '203.0.113.1, 10.0.0.2, 198.51.100.4');
    assert.equal(t['x-forwarded-proto'], 'http');
    assert.equal(t['x-forwarded-host'], 'a.test:8080');
    assert.equal(t['x-forwarded-port'], '8080');
    assert.equal(clientOf(behind, proxies), '10.0.0.2');
    assert.equal(clientOf(behind, none), '198.51.100.4');
    assert.equal(new TrustedProxies(['::1']).has('::1'), true);
    assert.equal(new TrustedProxies(['10.0.0.0/8']).has('::ffff:10.1.2.3'), true);
    assert.equal(new TrustedProxies(['10.0.0.0/8']).has('11.0.0.1'), false);
  });

  test('response headers: hop-by-hop, Connection-listed and Set-Cookie removed; repeated values kept', () => {
    assert.deepEqual(
      responseHeaders({
        'content-type': 'text/html',
        connection: 'keep-alive, x-hop',
        'keep-alive': 'timeout=5',
        'x-hop': '1',
        'transfer-encoding': 'chunked',
        'set-cookie': ['a=1', 'b=2'],
        vary: ['accept', 'cookie'],
      }),
      [
        ['content-type', 'text/html'],
        ['vary', 'accept'],
        ['vary', 'cookie'],
      ],
    );
  });
});

test('pieces: split at the size, never inside a surrogate pair', () => {
  assert.deepEqual(pieces('', 4), []);
  assert.deepEqual(pieces('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
  const text = 'ab😀cd😀';
  const parts = pieces(text, 3);
  assert.equal(parts.join(''), text);
  for (const p of parts) assert.ok(!/[\ud800-\udbff]$/.test(p), JSON.stringify(p));
});

describe('config: apps[].livewire', () => {
  const app = (livewire: unknown): unknown => ({
    apps: [{ id: 'a', key: 'k', secret: 's', livewire: withPublicUrl(livewire) }],
  });
  const withPublicUrl = (lw: unknown): unknown =>
    lw !== null && typeof lw === 'object' && !('publicUrl' in lw) && !('noPublicUrl' in lw)
      ? { publicUrl: 'https://app.test', ...lw }
      : lw;
  const fails = (raw: unknown, message: string): void =>
    assert.throws(
      () => validateConfig(raw),
      (e: unknown) => e instanceof ConfigError && e.message === message,
    );

  test('absent: no tunnel; present: defaults filled, origins normalized', () => {
    assert.equal(validateConfig(app(undefined)).apps[0]!.livewire, undefined);
    const lw = validateConfig({
      ...(app({ backends: ['http://10.0.0.5:8000/'], publicUrl: 'https://App.Example.com' }) as object),
      limits: { maxFrameBytes: 2 * 1024 * 1024 },
    }).apps[0]!.livewire;
    assert.deepEqual(lw, {
      ...livewireDefaults(),
      backends: ['http://10.0.0.5:8000'],
      publicUrl: 'https://app.example.com',
    });
    assert.equal(lw?.deadlineMs, 60_000);
  });

  test('maxRequestBytes: by default capped at limits.maxFrameBytes; set above it, refused', () => {
    assert.equal(validateConfig(app({ backends: ['http://b'] })).apps[0]!.livewire!.maxRequestBytes, 256 * 1024);
    fails(
      app({ backends: ['http://b'], maxRequestBytes: 300_000 }),
      'Invalid config: apps[0].livewire.maxRequestBytes (300000) must not exceed limits.maxFrameBytes (262144)',
    );
  });

  test('the tunnel budgets of an address and of the node hold at least one response, or are 0', () => {
    const raw = (limits: Record<string, number>): unknown => ({
      ...(app({ backends: ['http://b'], maxResponseBytes: 2_000_000 }) as object),
      limits,
    });
    assert.equal(validateConfig(raw({ maxTunnelBufferedBytesPerIp: 0 })).limits.maxTunnelBufferedBytesPerIp, 0);
    assert.equal(validateConfig(raw({})).limits.maxTunnelBufferedBytes, 256 * 1024 * 1024);
    fails(
      raw({ maxTunnelBufferedBytesPerIp: 1_000_000 }),
      'Invalid config: limits.maxTunnelBufferedBytesPerIp (1000000) must be 0 (no limit) or at least apps[0].livewire.maxResponseBytes (2000000)',
    );
    fails(
      raw({ maxTunnelBufferedBytes: 1_999_999 }),
      'Invalid config: limits.maxTunnelBufferedBytes (1999999) must be 0 (no limit) or at least apps[0].livewire.maxResponseBytes (2000000)',
    );
  });

  test('dns: port from the protocol, name checked', () => {
    const lw = validateConfig(app({ dns: { name: 'top1.nearest.of.my-app.internal', protocol: 'https' } })).apps[0]!
      .livewire!;
    assert.deepEqual(lw.dns, { name: 'top1.nearest.of.my-app.internal', port: 443, protocol: 'https' });
    assert.deepEqual(lw.backends, []);
    fails(
      app({ dns: { name: 'bad name' } }),
      'Invalid config: apps[0].livewire.dns.name ("bad name") must be a DNS name',
    );
  });

  test('a tunnel without publicUrl does not start, with a precise error', () => {
    const raw = { apps: [{ id: 'a', key: 'k', secret: 's', livewire: { backends: ['http://x'] } }] };
    fails(
      raw,
      'Invalid config: apps[0].livewire.publicUrl must be set to the app\'s public origin (e.g. "https://app.example.com"): only pages of that origin (or of allowedOrigins) may use the tunnel, and Laravel\'s X-Forwarded-Host/Port/Proto come from it',
    );
    fails(
      app({ backends: ['http://x'], publicUrl: 'https://a.test/app' }),
      'Invalid config: apps[0].livewire.publicUrl ("https://a.test/app") must be an http(s) origin: scheme, host and optional port, without path, query or credentials',
    );
    fails(
      app({ backends: ['http://x'], allowedOrigins: ['null'] }),
      'Invalid config: apps[0].livewire.allowedOrigins[0] ("null") must be an http(s) origin: scheme, host and optional port, without path, query or credentials',
    );
    fails(
      app({ backends: ['http://x'], trustedProxies: ['10.0.0.0/33'] }),
      'Invalid config: apps[0].livewire.trustedProxies[0] ("10.0.0.0/33") must be an IP address or a CIDR range (e.g. "10.0.0.0/8")',
    );
    fails(
      app({ backends: ['http://x'], timeoutMs: 5000, deadlineMs: 1000 }),
      'Invalid config: apps[0].livewire.deadlineMs (1000) must be at least timeoutMs (5000)',
    );
    const lw = validateConfig(
      app({
        backends: ['http://x'],
        allowedOrigins: ['https://WWW.app.test', 'https://app.test'],
        trustedProxies: ['127.0.0.1', 'fd00::/8'],
      }),
    ).apps[0]!.livewire!;
    assert.deepEqual(lw.allowedOrigins, ['https://www.app.test']);
    assert.deepEqual(lw.trustedProxies, ['127.0.0.1', 'fd00::/8']);
  });

  test('bad settings name their path', () => {
    fails(
      app({}),
      'Invalid config: apps[0].livewire.backends must list at least one backend URL, or apps[0].livewire.dns must be set',
    );
    fails(
      app({ backends: ['ftp://x'] }),
      'Invalid config: apps[0].livewire.backends[0] ("ftp://x") must be an http(s) origin: scheme, host and optional port, without path, query or credentials',
    );
    fails(
      app({ backends: ['http://x/app'] }),
      'Invalid config: apps[0].livewire.backends[0] ("http://x/app") must be an http(s) origin: scheme, host and optional port, without path, query or credentials',
    );
    fails(
      app({ backends: ['http://x', 'http://x/'] }),
      'Invalid config: apps[0].livewire.backends[1] ("http://x") is listed twice',
    );
    fails(
      app({ backends: ['http://x'], paths: ['/a/*/*'] }),
      'Invalid config: apps[0].livewire.paths[0] ("/a/*/*") may contain at most one \'*\'',
    );
    fails(
      app({ backends: ['http://x'], paths: ['/a/../b'] }),
      "Invalid config: apps[0].livewire.paths[0] (\"/a/../b\") must not contain '.' or '..' segments",
    );
    fails(
      app({ backends: ['http://x'], paths: ['livewire'] }),
      "Invalid config: apps[0].livewire.paths[0] (\"livewire\") must be a path starting with '/', without query, spaces, '%' or '\\'",
    );
    fails(
      app({ backends: ['http://x'], paths: ['/a;b'] }),
      "Invalid config: apps[0].livewire.paths[0] (\"/a;b\") must be a path starting with '/', without query, spaces, '%' or '\\'",
    );
    fails(
      app({ backends: ['http://x'], paths: [] }),
      'Invalid config: apps[0].livewire.paths must list at least one path (remove the livewire section to turn the tunnel off)',
    );
    fails(
      app({ backends: ['http://x'], maxInFlight: 0 }),
      'Invalid config: apps[0].livewire.maxInFlight (0) must be a positive integer',
    );
    fails(
      app({ backends: ['http://x'], healthIntervalMs: 10 }),
      'Invalid config: apps[0].livewire.healthIntervalMs (10) must be an integer of at least 100',
    );
    fails(
      app({ backends: ['http://x'], backend: 'http://y' }),
      'Invalid config: apps[0].livewire.backend is not a known setting (did you mean backends?)',
    );
  });
});

test('histogram: cumulative buckets, +Inf, sum and count per label set', () => {
  const r = new MetricsRegistry();
  const h = r.histogram('t_seconds', 'Test', [0.1, 1]);
  h.observe({ app: 'a' }, 0.05);
  h.observe({ app: 'a' }, 0.5);
  h.observe({ app: 'a' }, 5);
  assert.equal(
    r.render(),
    [
      '# HELP t_seconds Test',
      '# TYPE t_seconds histogram',
      't_seconds_bucket{app="a",le="0.1"} 1',
      't_seconds_bucket{app="a",le="1"} 2',
      't_seconds_bucket{app="a",le="+Inf"} 3',
      't_seconds_sum{app="a"} 5.55',
      't_seconds_count{app="a"} 3',
      '',
    ].join('\n'),
  );
});
