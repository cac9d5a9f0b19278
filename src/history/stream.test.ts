import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelStream } from './stream.js';
import { HistoryStore } from './store.js';
import { formatPosition, parsePosition, positionOfFrame } from './position.js';
import { channelEvent, withPosition } from '../protocol/frames.js';
import { historyDefaults } from '../config/schema.js';

const LIMITS = { maxEvents: 5, maxAgeMs: 1_000, maxBytes: 10_000 };
const frame = (n: number) => (p: { epoch: string; serial: number }) =>
  withPosition(channelEvent('e', 'c', `d${n}`), formatPosition(p));

describe('ChannelStream', () => {
  test('hands out serials in order and replays exactly what follows a position', () => {
    const s = new ChannelStream(LIMITS, 0, 'ep');
    for (let n = 1; n <= 4; n++) s.append(n, frame(n));
    assert.deepEqual(s.head, { epoch: 'ep', serial: 4 });
    const r = s.since({ epoch: 'ep', serial: 2 }, 10);
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.status === 'ok' && r.frames.map((f) => positionOfFrame(f)?.serial), [3, 4]);
    assert.deepEqual(s.since({ epoch: 'ep', serial: 4 }, 10), { status: 'ok', head: s.head, frames: [] });
  });

  test('a position older than what is kept, of another epoch, or ahead of the head is a gap', () => {
    const s = new ChannelStream(LIMITS, 0, 'ep');
    for (let n = 1; n <= 9; n++) s.append(n, frame(n)); // keeps 5..9
    assert.equal(s.length, 5);
    assert.deepEqual(s.since({ epoch: 'ep', serial: 3 }, 10), { status: 'gap', reason: 'too_old', head: s.head });
    const r = s.since({ epoch: 'ep', serial: 4 }, 10);
    assert.deepEqual(r.status === 'ok' && r.frames.length, 5, 'one before the oldest kept: all of them, no gap');
    assert.equal(s.since({ epoch: 'other', serial: 4 }, 10).status, 'gap');
    assert.deepEqual(s.since({ epoch: 'ep', serial: 99 }, 10), { status: 'gap', reason: 'reset', head: s.head });
  });

  test('events older than the age limit are dropped; the head stays', () => {
    const s = new ChannelStream(LIMITS, 0, 'ep');
    s.append(0, frame(1));
    s.append(500, frame(2));
    assert.equal(s.expire(1_200), false);
    assert.equal(s.length, 1);
    assert.equal(s.since({ epoch: 'ep', serial: 0 }, 1_200).status, 'gap');
    assert.equal(s.since({ epoch: 'ep', serial: 1 }, 1_200).status, 'ok');
    assert.equal(s.expire(2_000), true);
    assert.deepEqual(s.since({ epoch: 'ep', serial: 2 }, 2_000), {
      status: 'ok',
      head: { epoch: 'ep', serial: 2 },
      frames: [],
    });
  });

  test('bytes are bounded (the newest event is always kept)', () => {
    const s = new ChannelStream({ maxEvents: 100, maxAgeMs: 60_000, maxBytes: 300 }, 0, 'ep');
    for (let n = 1; n <= 50; n++)
      s.append(n, (p) => withPosition(channelEvent('e', 'c', 'x'.repeat(80)), formatPosition(p)));
    assert.ok(s.bytes <= 300, `${s.bytes} bytes kept`);
    s.append(60, (p) => withPosition(channelEvent('e', 'c', 'y'.repeat(1_000)), formatPosition(p)));
    assert.equal(s.length, 1);
  });

  test('a long run compacts its array and keeps serials right', () => {
    const s = new ChannelStream(LIMITS, 0, 'ep');
    for (let n = 1; n <= 1_000; n++) s.append(n, frame(n));
    const r = s.since({ epoch: 'ep', serial: 996 }, 1_000);
    assert.deepEqual(r.status === 'ok' && r.frames.map((f) => positionOfFrame(f)?.serial), [997, 998, 999, 1_000]);
  });
});

describe('HistoryStore', () => {
  test('at most maxChannels streams per app: the least recently used goes', () => {
    const config = { ...historyDefaults(), channels: ['*'], maxChannels: 2 };
    const store = new HistoryStore(() => config);
    const a = store.open('app', 'a', 0);
    store.open('app', 'b', 0);
    store.open('app', 'a', 1); // a used again
    store.open('app', 'c', 2); // evicts b
    assert.equal(store.get('app', 'a'), a);
    assert.equal(store.get('app', 'b'), undefined);
    assert.equal(store.stats().channels, 2);
  });

  test('sweeping drops expired events, and empty streams after a long idle time', () => {
    const config = { ...historyDefaults(), channels: ['*'], maxAgeMs: 1_000 };
    const store = new HistoryStore(() => config);
    store.open('app', 't', 0).append(0, frame(1));
    store.sweep(5_000);
    assert.deepEqual(store.stats(), { channels: 1, events: 0, bytes: 0 });
    store.sweep(20_000);
    assert.equal(store.stats().channels, 0);
  });
});

describe('positions', () => {
  test('parsed strictly (client input)', () => {
    assert.deepEqual(parsePosition('Ab_-9:42'), { epoch: 'Ab_-9', serial: 42 });
    for (const bad of [
      '',
      'x',
      'a:',
      ':1',
      'a:-1',
      'a:1.5',
      'a b:1',
      `${'a'.repeat(17)}:1`,
      'a:1234567890123456',
      7,
      null,
      {},
    ]) {
      assert.equal(parsePosition(bad), null, String(bad));
    }
  });

  test('read back from a frame, and absent from a frame without one', () => {
    assert.deepEqual(positionOfFrame(withPosition(channelEvent('e', 'c', { wm_pos: 'x:1' }), 'ep:7')), {
      epoch: 'ep',
      serial: 7,
    });
    assert.equal(positionOfFrame(channelEvent('e', 'c', 'data')), null);
    assert.deepEqual(JSON.parse(withPosition(channelEvent('e', 'c', 'd'), 'ep:7')), {
      event: 'e',
      channel: 'c',
      data: 'd',
      wm_pos: 'ep:7',
    });
  });
});
