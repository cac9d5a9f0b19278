import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { formatAddress } from './uws-address.js';

const v6 = (...groups: number[]): Uint8Array => {
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
};

describe('formatAddress (as node:net reports remote addresses)', () => {
  it('formats IPv4', () => {
    assert.equal(formatAddress(new Uint8Array([127, 0, 0, 1])), '127.0.0.1');
    assert.equal(formatAddress(new Uint8Array([10, 200, 0, 255])), '10.200.0.255');
  });

  it('formats IPv4-mapped IPv6 like a dual-stack node:net socket', () => {
    assert.equal(formatAddress(v6(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001)), '::ffff:127.0.0.1');
  });

  it('compresses the longest run of zero groups (RFC 5952)', () => {
    const cases: [Uint8Array, string][] = [
      [v6(0, 0, 0, 0, 0, 0, 0, 1), '::1'],
      [v6(0, 0, 0, 0, 0, 0, 0, 0), '::'],
      [v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), '2001:db8::1'],
      [v6(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1), '2001:db8:0:1::1'],
      [v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), '2001:db8::1:0:0:1'],
      [v6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), '2001:db8:0:1:1:1:1:1'],
      [v6(0xfe80, 0, 0, 0, 0xabcd, 0, 0, 0), 'fe80::abcd:0:0:0'],
      [v6(1, 0, 0, 0, 0, 0, 0, 0), '1::'],
    ];
    for (const [bytes, text] of cases) {
      assert.equal(formatAddress(bytes), text);
      assert.equal(isIP(text), 6, text);
    }
  });

  it('answers an empty string for anything else', () => {
    assert.equal(formatAddress(new Uint8Array(0)), '');
    assert.equal(formatAddress(new Uint8Array(5)), '');
  });
});
