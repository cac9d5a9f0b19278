/**
 * Only publishes make streams: resumes of channels nobody published on get empty streams from a
 * pool of their own, so they cannot push a real channel's history out of `maxChannels`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { historyDefaults } from '../config/schema.js';
import { formatPosition } from './position.js';
import { HistoryStore } from './store.js';

const config = { ...historyDefaults(), channels: ['*'], maxChannels: 3 };
const store = (): HistoryStore => new HistoryStore(() => config);

test('resumes of 1,000 made-up channels leave the published streams and their events alone', () => {
  const s = store();
  s.open('app', 'app\u0000orders', 0).append(0, () => '{"event":"e"}');
  for (let i = 0; i < 1_000; i++) s.peek('app', `app\u0000fake-${i}`, 0);
  assert.equal(s.get('app', 'app\u0000orders')?.length, 1, 'the real stream is still there');
  assert.equal(s.stats().channels, 1, 'no stream was made by a resume');
});

test('a channel resumed before its first event keeps the epoch it was given when it is first published', () => {
  const s = store();
  const asked = formatPosition(s.peek('app', 'app\u0000late', 0).head);
  const stream = s.open('app', 'app\u0000late', 1);
  stream.append(1, () => '{"event":"e"}');
  assert.equal(formatPosition({ epoch: stream.epoch, serial: 0 }), asked);
  assert.deepEqual(
    stream.since({ epoch: stream.epoch, serial: 0 }, 1).status,
    'ok',
    'a client at that position gets the first event',
  );
});
