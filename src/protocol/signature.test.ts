/** The hand-rolled parts of the signature checks agree with node:crypto and plain equality. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { hmacHex, md5Hex, safeEqual } from './signature.js';

describe('hmacHex', () => {
  it('equals createHmac for short, block-sized and long keys and messages', () => {
    const keys = [
      'app-secret',
      '',
      'k'.repeat(64),
      'k'.repeat(65),
      'ß€✓'.repeat(30),
      randomBytes(100).toString('base64'),
    ];
    const messages = [
      '',
      'POST\n/apps/1/events\nauth_key=k',
      'é✓'.repeat(500),
      'x'.repeat(300),
      'y'.repeat(5000),
      'short again',
    ];
    for (const key of keys) {
      for (const m of messages) {
        assert.equal(hmacHex(key, m), createHmac('sha256', key).update(m).digest('hex'));
        const b = Buffer.from(m);
        assert.equal(hmacHex(key, b), createHmac('sha256', key).update(b).digest('hex'));
      }
    }
  });

  it('matches the Pusher docs example signature', () => {
    // https://pusher.com/docs/channels/library_auth_reference/auth-signatures/
    const sig = hmacHex('7ad3773142a6692b25b8', '1234.1234:private-foobar');
    assert.equal(sig, '58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4');
  });
});

describe('md5Hex', () => {
  it('equals createHash', () => {
    for (const body of ['', '{"name":"e"}', 'é'.repeat(1000)]) {
      assert.equal(md5Hex(body), createHash('md5').update(body).digest('hex'));
      assert.equal(md5Hex(Buffer.from(body)), createHash('md5').update(body).digest('hex'));
    }
  });
});

describe('safeEqual', () => {
  it('is string equality', () => {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('', ''), true);
    assert.equal(safeEqual('abc', 'abd'), false);
    assert.equal(safeEqual('abc', 'ab'), false);
    assert.equal(safeEqual('\ud800', '\udc00'), false);
  });
});
