/**
 * Laravel's own cookies (test/fixtures/laravel-cookies/cookies.json, written by Laravel 10.48's
 * EncryptCookies, Encrypter and CookieSessionHandler in the rig: generate.php beside it) read by
 * LaravelCookies, and the cookie jar deciding with it what the browser must be given.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { laravelKeyBytes } from '../config/livewire.js';
import { CookieJar, REFRESH_SHARE } from './cookies.js';
import { LaravelCookies, laravelCookies } from './laravel-cookies.js';

type Pair = Record<'laravel_session' | 'XSRF-TOKEN', string>;
interface Fixtures {
  keys: Record<'current' | 'previous' | 'gcm' | 'aes128' | 'raw', string>;
  sessionId: string;
  first: Pair;
  again: Pair;
  regenerated: Pair;
  cookieDriver: Record<
    'first' | 'later' | 'written' | 'expireOnClose' | 'encryptedFirst' | 'encryptedLater' | 'encryptedWritten',
    string
  > & { expiresAt: number };
  previousKey: Pair;
  gcm: { first: Pair; again: Pair };
  aes128: Pair;
  rawKey: Pair;
  laravelVersion: string;
}

// dist/src/livewire/ → the repository's root.
const fx = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/laravel-cookies/cookies.json', import.meta.url), 'utf8'),
) as Fixtures;

const key = (name: keyof Fixtures['keys']): Buffer => laravelKeyBytes(fx.keys[name])!;
/** The value of a Set-Cookie header, as the browser stores and sends it back. */
const value = (setCookie: string): string => setCookie.slice(setCookie.indexOf('=') + 1).split(';')[0]!;
const reader = new LaravelCookies([key('current')]);
const meaning = (r: LaravelCookies, name: string, setCookie: string): string | undefined =>
  r.read(name, value(setCookie))?.same;

test(`Laravel ${fx.laravelVersion}: the session and XSRF-TOKEN cookies of two responses are new values of the same plaintexts`, () => {
  for (const name of ['laravel_session', 'XSRF-TOKEN'] as const) {
    assert.notEqual(value(fx.first[name]), value(fx.again[name]), `${name}: a new ciphertext each response`);
    const first = meaning(reader, name, fx.first[name]);
    assert.ok(first !== undefined, `${name} is read`);
    assert.equal(meaning(reader, name, fx.again[name]), first, `${name}: the same meaning`);
    assert.notEqual(meaning(reader, name, fx.regenerated[name]), first, `${name}: regenerated, another meaning`);
  }
  assert.ok(meaning(reader, 'laravel_session', fx.first.laravel_session)!.endsWith(`|${fx.sessionId}`));
});

test('a value is bound to its name, its key and its MAC', () => {
  assert.equal(
    meaning(reader, 'XSRF-TOKEN', fx.first.laravel_session),
    undefined,
    "the session cookie's value under another name: its prefix is wrong, Laravel reads null",
  );
  assert.equal(meaning(new LaravelCookies([key('previous')]), 'laravel_session', fx.first.laravel_session), undefined);
  const payload = JSON.parse(Buffer.from(decodeURIComponent(value(fx.first.laravel_session)), 'base64').toString()) as {
    mac: string;
  };
  for (const forged of [
    { ...payload, mac: payload.mac.replace(/^./, (c) => (c === '0' ? '1' : '0')) },
    { ...payload, mac: '' },
    { ...payload, mac: 'zz' },
    { ...payload, iv: 'AAAA' },
  ]) {
    assert.equal(reader.read('laravel_session', Buffer.from(JSON.stringify(forged)).toString('base64')), undefined);
  }
  for (const junk of ['', 'abc', '%E0%A4%A', Buffer.from('[1]').toString('base64'), 'x'.repeat(10_000)])
    assert.equal(reader.read('laravel_session', junk), undefined, junk.slice(0, 20));
});

test('the cookie session driver: the session data is the meaning, its expires only when Laravel stops reading it', () => {
  const c = fx.cookieDriver;
  const first = reader.read(fx.sessionId, value(c.first));
  assert.ok(first !== undefined);
  assert.equal(first.lapsesAt, c.expiresAt * 1000);
  assert.equal(meaning(reader, fx.sessionId, c.later), first.same, 'written again unchanged, 7 s later');
  assert.equal(meaning(reader, fx.sessionId, c.expireOnClose), first.same);
  assert.notEqual(meaning(reader, fx.sessionId, c.written), first.same, 'the session changed');
  // session.encrypt: the data is a payload of its own, new each write.
  const encrypted = meaning(reader, fx.sessionId, c.encryptedFirst);
  assert.ok(encrypted !== undefined);
  assert.equal(meaning(reader, fx.sessionId, c.encryptedLater), encrypted);
  assert.notEqual(meaning(reader, fx.sessionId, c.encryptedWritten), encrypted);
});

test('previous keys (APP_PREVIOUS_KEYS), AES-256-GCM, AES-128-CBC and a raw key', () => {
  const rotated = new LaravelCookies([key('current'), key('previous')]);
  assert.equal(meaning(reader, 'laravel_session', fx.previousKey.laravel_session), undefined);
  const old = meaning(rotated, 'laravel_session', fx.previousKey.laravel_session);
  assert.ok(old?.endsWith(`|${fx.sessionId}`), 'read under the previous key');
  assert.notEqual(
    old,
    meaning(rotated, 'laravel_session', fx.first.laravel_session),
    'the prefix names the key: the browser is given the cookie of the current key once',
  );
  const gcm = new LaravelCookies([key('gcm')]);
  assert.ok(meaning(gcm, 'XSRF-TOKEN', fx.gcm.first['XSRF-TOKEN']) !== undefined);
  assert.equal(
    meaning(gcm, 'XSRF-TOKEN', fx.gcm.first['XSRF-TOKEN']),
    meaning(gcm, 'XSRF-TOKEN', fx.gcm.again['XSRF-TOKEN']),
  );
  assert.equal(meaning(reader, 'XSRF-TOKEN', fx.gcm.first['XSRF-TOKEN']), undefined);
  for (const [name, pair] of [
    ['aes128', fx.aes128],
    ['raw', fx.rawKey],
  ] as const) {
    const r = laravelCookies({ laravelKey: fx.keys[name], laravelPreviousKeys: [] })!;
    assert.ok(meaning(r, 'laravel_session', pair.laravel_session)?.endsWith(`|${fx.sessionId}`), name);
  }
  assert.equal(laravelCookies({ laravelPreviousKeys: [] }), undefined, 'no key, no reader');
});

test('the jar: a cookie re-set unchanged is not handed to the browser; a changed one is, once', () => {
  const now = Date.now();
  const handshake = `laravel_session=${value(fx.first.laravel_session)}; XSRF-TOKEN=${value(fx.first['XSRF-TOKEN'])}`;
  const jar = CookieJar.fromHeader(handshake, reader, now);
  assert.equal(jar.apply(fx.again.laravel_session, now + 1_000), null);
  assert.equal(jar.apply(fx.again['XSRF-TOKEN'], now + 1_000), null);
  assert.equal(jar.get('laravel_session'), value(fx.again.laravel_session), 'the jar sends the newest value');
  assert.equal(jar.hasPending, false);

  // Without the key, each new ciphertext is a change.
  const blind = CookieJar.fromHeader(handshake, undefined, now);
  assert.equal(blind.apply(fx.again.laravel_session, now + 1_000), 'laravel_session');

  // session()->regenerate(): handed over at the next sync; then the browser holds it.
  assert.equal(jar.apply(fx.regenerated.laravel_session, now + 2_000), 'laravel_session');
  assert.equal(jar.apply(fx.again['XSRF-TOKEN'], now + 2_000), null);
  const given = jar.sync(handshake, now + 3_000);
  assert.deepEqual(given, [fx.regenerated.laravel_session]);
  assert.equal(jar.get('laravel_session'), value(fx.regenerated.laravel_session));
  assert.equal(jar.apply(fx.regenerated.laravel_session, now + 4_000), null, 'the browser holds it now');
});

test('the jar: the browser copy of a re-set cookie is refreshed once a quarter of its lifetime has passed', () => {
  const now = Date.now();
  const jar = CookieJar.fromHeader(`XSRF-TOKEN=${value(fx.first['XSRF-TOKEN'])}`, reader, now);
  const due = now + 7_200_000 * REFRESH_SHARE;
  assert.equal(jar.apply(fx.again['XSRF-TOKEN'], due - 1), null);
  assert.equal(jar.apply(fx.again['XSRF-TOKEN'], due), 'XSRF-TOKEN', 'Max-Age=7200: due after 30 minutes');
  jar.sync(`XSRF-TOKEN=${value(fx.first['XSRF-TOKEN'])}`, due + 10);
  assert.equal(jar.apply(fx.first['XSRF-TOKEN'], due + 20), null, 'given at the sync: young again');

  // A socket opened (or reopened) 40 minutes after its page loaded: the handshake's copies are as
  // old as the page (wiremesh:session's pageAgeMs), so the first re-set is due at once.
  const late = CookieJar.fromHeader(`XSRF-TOKEN=${value(fx.first['XSRF-TOKEN'])}`, reader, now);
  late.heldSince(now - 40 * 60_000);
  assert.equal(late.apply(fx.again['XSRF-TOKEN'], now + 1_000), 'XSRF-TOKEN');
  late.sync(`XSRF-TOKEN=${value(fx.first['XSRF-TOKEN'])}`, now + 2_000);
  assert.equal(late.apply(fx.again['XSRF-TOKEN'], now + 3_000), null, 'given at the sync');

  // The cookie driver without Max-Age (expire_on_close): the expiry inside the browser's copy counts.
  const c = fx.cookieDriver;
  const sessionJar = CookieJar.fromHeader(`${fx.sessionId}=${value(c.first)}`, reader, now);
  const lapses = c.expiresAt * 1000;
  const refresh = now + (lapses - now) * REFRESH_SHARE;
  assert.equal(sessionJar.apply(c.expireOnClose, refresh - 1), null);
  assert.equal(sessionJar.apply(c.expireOnClose, refresh), fx.sessionId);

  // A cookie re-set identical (an app that does not encrypt) is the same without a reader.
  const plain = CookieJar.fromHeader('theme=dark', undefined, now);
  assert.equal(plain.apply('theme=dark; Max-Age=600', now + 1_000), null);
  assert.equal(plain.apply('theme=dark; Max-Age=600', now + 150_000), 'theme');
  assert.equal(plain.apply('theme=light; Max-Age=600', now + 1_000), 'theme');
  assert.equal(plain.apply('other=x', now), 'other', 'a cookie the browser lacks');
  assert.equal(plain.apply('gone=; Max-Age=0', now), 'gone', 'a deletion is always handed over');
});
