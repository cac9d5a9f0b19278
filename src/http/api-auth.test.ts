/**
 * parseQuery reads the signed part off the raw query in one pass when it can: it must agree
 * exactly with the general path (URLSearchParams, then sort) on every input.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuery, verifyApiRequest } from './api-auth.js';
import { apiParamsToSign, signedApiPath } from '../protocol/signature.js';

function reference(raw: string): { params: Record<string, string>; signed: string } {
  const params = Object.create(null) as Record<string, string>;
  // The first of the names that are one name once lower-cased (as signed).
  const seen = new Set<string>();
  for (const [k, v] of new URLSearchParams(raw)) {
    if (seen.has(k.toLowerCase())) continue;
    seen.add(k.toLowerCase());
    params[k] = v;
  }
  return { params, signed: apiParamsToSign(params) };
}

function check(raw: string): void {
  const got = parseQuery(raw);
  const want = reference(raw);
  assert.deepEqual(got.params, want.params, `params of ${JSON.stringify(raw)}`);
  assert.equal(got.signed ?? apiParamsToSign(got.params), want.signed, `signed part of ${JSON.stringify(raw)}`);
}

describe('parseQuery', () => {
  it('takes names that differ only in case for one parameter given twice (the signature lower-cases them)', () => {
    for (const raw of [
      'auth_key=app-key&AUTH_KEY=other',
      'AUTH_KEY=other&auth_key=app-key',
      'auth_key=a%20b&Auth_Key=x',
    ]) {
      const q = parseQuery(raw);
      assert.notEqual(q.duplicate, null, raw);
      assert.equal(Object.keys(q.params).length, 1, raw);
    }
  });

  it('takes the signed part off a query as the SDKs send it (sorted, auth_signature last)', () => {
    const raw =
      'auth_key=app-key&auth_timestamp=1764110000&auth_version=1.0&body_md5=0123456789abcdef0123456789abcdef&auth_signature=abc';
    const q = parseQuery(raw);
    assert.equal(
      q.signed,
      'auth_key=app-key&auth_timestamp=1764110000&auth_version=1.0&body_md5=0123456789abcdef0123456789abcdef',
    );
    assert.equal(q.params.auth_signature, 'abc');
    check(raw);
  });

  it('agrees with URLSearchParams + sort on the cases that leave the fast path', () => {
    for (const raw of [
      '',
      '?a=1',
      'b=2&a=1',
      'A=1&b=2',
      'a=1&a=2',
      'a&b=1',
      'a=1&&b=2&',
      '=x&a=1',
      'a=b=c&d=e',
      'a=%41&b=+',
      'constructor=1&a=2',
      '__proto__=1&a=2',
      'toString=x',
      'a=é&b=1',
      'auth_signature=1&auth_signature=2&a=1',
      'z=1&auth_signature=s&a=2',
      'info=user_count,subscription_count&auth_key=k',
      'filter_by_prefix=presence-&info=user_count',
    ]) {
      check(raw);
    }
  });

  it('agrees with URLSearchParams + sort on random queries', () => {
    const pieces = [
      'a',
      'b',
      'B',
      'auth_key',
      'auth_signature',
      'body_md5',
      'x_1',
      '=',
      '&',
      '%20',
      '+',
      '?',
      'é',
      'constructor',
      '1',
      '',
      '-',
    ];
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      let raw = '';
      const n = rand(12);
      for (let j = 0; j < n; j++) raw += pieces[rand(pieces.length)];
      check(raw);
    }
    const names = [
      'auth_key',
      'auth_signature',
      'auth_timestamp',
      'auth_version',
      'body_md5',
      'info',
      'Info',
      'a',
      'a',
    ];
    const values = ['', 'k', 'K1', '1.0', 'x=y', 'user_count,subscription_count', '%41', 'a+b'];
    for (let i = 0; i < 5000; i++) {
      const pairs: string[] = [];
      const n = rand(6);
      for (let j = 0; j < n; j++) pairs.push(`${names[rand(names.length)]}=${values[rand(values.length)]}`);
      if (rand(2) === 0) pairs.sort();
      check(pairs.join('&'));
    }
  });
});

describe('signedApiPath (what doctor and the warm-up send)', () => {
  const app = { id: 'app-id', key: 'app-key', secret: 'app-secret' } as unknown as Parameters<
    typeof verifyApiRequest
  >[0];
  it('passes verifyApiRequest, with and without a body; a changed body or path does not', () => {
    const body = '{"name":"e","channel":"c","data":"{}"}';
    for (const [method, path, b] of [
      ['GET', '/apps/app-id/channels', undefined],
      ['POST', '/apps/app-id/events', body],
    ] as const) {
      const signed = signedApiPath(app, method, path, b);
      const [p, raw] = signed.split('?') as [string, string];
      assert.equal(p, path);
      const buf = b === undefined ? null : Buffer.from(b);
      verifyApiRequest(app, method, path, parseQuery(raw), buf, Date.now());
      assert.throws(
        () => verifyApiRequest(app, method, '/apps/app-id/other', parseQuery(raw), buf, Date.now()),
        /Invalid signature/,
      );
      if (b !== undefined)
        assert.throws(
          () => verifyApiRequest(app, method, path, parseQuery(raw), Buffer.from(`${b} `), Date.now()),
          /body_md5 does not match/,
        );
    }
  });
});
