/** The mesh's pure parts: frame codec, handshake proofs, peer addresses and backoff. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoff } from './mesh-dialer.js';
import { parsePeer } from '../peer-address.js';
import { assertSubject, encodeFrame, FrameReader, FrameType, type Frame } from './mesh-frames.js';
import { decodeHello, encodeHello, negotiate, newHello, newInstanceId, proof, verifyProof } from './mesh-handshake.js';

function readAll(reader: FrameReader): Frame[] {
  const out: Frame[] = [];
  for (let f = reader.next(); f; f = reader.next()) out.push(f);
  return out;
}

describe('mesh frames', () => {
  const frames: Array<[FrameType, string, Buffer]> = [
    [FrameType.PING, '', Buffer.alloc(0)],
    [FrameType.MSG, 'wm.t.caf\u00e9', Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
    [FrameType.SUB, 'x'.repeat(65_535), Buffer.alloc(0)],
    [FrameType.MSG, 'a', Buffer.from('naïve ☃ \r\n\u0000')],
  ];
  const wire = Buffer.concat(frames.map(([t, s, p]) => encodeFrame(t, s, p)));
  const expected = frames.map(([type, subject, payload]) => ({ type, subject, payload }));

  it('round-trips frames given in one chunk', () => {
    const reader = new FrameReader(1 << 20);
    reader.push(wire);
    assert.deepEqual(readAll(reader), expected);
    assert.equal(reader.next(), null);
  });

  it('round-trips frames split at every byte', () => {
    const reader = new FrameReader(1 << 20);
    const got: Frame[] = [];
    for (let i = 0; i < wire.length; i++) {
      reader.push(wire.subarray(i, i + 1));
      got.push(...readAll(reader));
    }
    assert.deepEqual(got, expected);
  });

  it('refuses an oversized frame as soon as its length is read', () => {
    const reader = new FrameReader(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025);
    reader.push(header);
    assert.throws(() => reader.next(), {
      name: 'FrameError',
      code: 'FRAME_TOO_LARGE',
      message: 'frame of 1025 bytes exceeds the limit of 1024',
    });
  });

  it('refuses a frame whose subject overruns it, or too short to have a header', () => {
    const bad = encodeFrame(FrameType.SUB, 'abc');
    bad.writeUInt16BE(50, 5);
    const reader = new FrameReader(1024);
    reader.push(bad);
    assert.throws(() => reader.next(), { code: 'FRAME_MALFORMED', message: 'subject length exceeds the frame' });
    const short = new FrameReader(1024);
    short.push(Buffer.from([0, 0, 0, 1, 7]));
    assert.throws(() => short.next(), { code: 'FRAME_MALFORMED' });
  });

  it('refuses subjects that cannot be framed', () => {
    assert.throws(() => assertSubject(''), TypeError);
    assert.throws(() => assertSubject('é'.repeat(40_000)), {
      message: 'invalid mesh subject: must be 1 to 65535 UTF-8 bytes',
    });
    assert.doesNotThrow(() => assertSubject('wm.app=1@host,x;y'));
  });
});

describe('mesh handshake', () => {
  const [a, b] = [newHello(newInstanceId()), newHello(newInstanceId())];

  it('accepts the proof of a node that knows the secret', () => {
    const answer = proof('s3cret', 'dialer', a, b);
    assert.doesNotThrow(() => verifyProof('s3cret', 'dialer', a, b, answer));
  });

  it('refuses a wrong secret, a reflected answer and a truncated one', () => {
    const answer = proof('s3cret', 'dialer', a, b);
    const wrong = { name: 'HandshakeError', code: 'HANDSHAKE_AUTH' };
    assert.throws(() => verifyProof('other', 'dialer', a, b, answer), wrong);
    // Our own answer, sent back to us as if the other side had made it.
    assert.throws(() => verifyProof('s3cret', 'acceptor', b, a, proof('s3cret', 'dialer', a, b)), wrong);
    assert.throws(() => verifyProof('s3cret', 'acceptor', a, b, answer), wrong);
    assert.throws(() => verifyProof('s3cret', 'dialer', a, b, answer.subarray(0, 16)), wrong);
  });

  it('reads a HELLO, and names a version it does not speak', () => {
    assert.deepEqual(decodeHello(encodeHello(a)), a);
    // A version-1 build's HELLO (no max) still reads: it speaks 1 only.
    const v1 = { v: 1, id: a.id, nonce: a.nonce };
    assert.deepEqual(decodeHello(Buffer.from(JSON.stringify(v1))), v1);
    assert.throws(() => decodeHello(Buffer.from(JSON.stringify({ ...a, v: 3, max: 4 }))), {
      code: 'HANDSHAKE_VERSION',
      message: 'peer speaks mesh protocol versions 3 to 4; this node speaks 1 to 2: upgrade this node',
    });
    for (const bad of [
      'GET / HTTP/1.1',
      'null',
      JSON.stringify({ ...a, id: 'x' }),
      JSON.stringify({ v: 1, id: a.id }),
      JSON.stringify({ ...a, v: 2, max: 1 }),
      JSON.stringify({ ...a, v: '1' }),
    ]) {
      assert.throws(() => decodeHello(Buffer.from(bad)), { code: 'HANDSHAKE_MALFORMED' }, bad);
    }
  });

  it('settles the highest version both sides speak, and refuses ranges that do not meet', () => {
    const id = newInstanceId();
    const current = newHello(id);
    const old = newHello(id, { min: 1, max: 1 });
    const next = newHello(id, { min: 2, max: 3 });
    assert.deepEqual([current.v, current.max, old.v, old.max], [1, 2, 1, undefined]);
    assert.equal(negotiate(current, current), 2);
    assert.equal(negotiate(current, old), 1);
    assert.equal(negotiate(old, current), 1);
    assert.equal(negotiate(current, next), 2);
    assert.throws(() => negotiate(old, next), {
      code: 'HANDSHAKE_VERSION',
      message: 'peer speaks mesh protocol versions 2 to 3; this node speaks 1: upgrade the older node',
    });
  });

  it('binds both version ranges into the proof when both sides sent one (no silent downgrade)', () => {
    const [x, y] = [newHello(newInstanceId()), newHello(newInstanceId())];
    const answer = proof('s3cret', 'dialer', x, y);
    assert.doesNotThrow(() => verifyProof('s3cret', 'dialer', x, y, answer));
    // The verifier saw x without its max (stripped on the way): the proof no longer checks out.
    const stripped = { v: x.v, id: x.id, nonce: x.nonce };
    assert.throws(() => verifyProof('s3cret', 'dialer', stripped, y, answer), { code: 'HANDSHAKE_AUTH' });
    // With a version-1 peer, the proof is the version-1 one (what an old build computes).
    const old = { v: 1, id: y.id, nonce: y.nonce };
    assert.deepEqual(proof('s3cret', 'dialer', x, old), proof('s3cret', 'dialer', stripped, old));
  });
});

describe('mesh dialing', () => {
  it('parses host:port and [v6]:port', () => {
    assert.deepEqual(parsePeer('node-b.internal:6100'), {
      host: 'node-b.internal',
      port: 6100,
      key: 'node-b.internal:6100',
    });
    assert.deepEqual(parsePeer('[fdaa::3]:6100'), { host: 'fdaa::3', port: 6100, key: '[fdaa::3]:6100' });
  });

  it('backs off from 100 ms, doubling, to 5 s, with jitter', () => {
    for (let i = 0; i < 200; i++) {
      const first = backoff(0);
      const late = backoff(30);
      assert.ok(first >= 75 && first <= 125, String(first));
      assert.ok(backoff(3) >= 600 && backoff(3) <= 1000);
      assert.ok(late >= 3750 && late <= 6250, String(late));
    }
  });
});
