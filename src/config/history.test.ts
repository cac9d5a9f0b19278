import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from './validate.js';
import { historyMatcher } from './history.js';

const app = (history: unknown) => ({ apps: [{ id: 'a', key: 'k', secret: 's', history }] });

test('apps[].history: defaults, and absent means off', () => {
  const on = validateConfig(app({ channels: ['news-*'] })).apps[0]!;
  assert.deepEqual(on.history, {
    channels: ['news-*'],
    maxEvents: 100,
    maxAgeMs: 120_000,
    maxBytes: 262_144,
    maxChannels: 10_000,
    resumeTimeoutMs: 3_000,
    store: 'memory',
    resumesPerSecond: 20,
  });
  assert.equal(validateConfig({ apps: [{ id: 'a', key: 'k', secret: 's' }] }).apps[0]!.history, undefined);
});

test('apps[].history.store: the broker on the redis driver by default, memory elsewhere; broker needs redis', () => {
  const redis = { driver: 'redis', redis: { url: 'redis://127.0.0.1:6379' } };
  assert.equal(validateConfig({ ...app({ channels: ['x'] }), cluster: redis }).apps[0]!.history!.store, 'broker');
  const kept = validateConfig({ ...app({ channels: ['x'], store: 'memory' }), cluster: redis });
  assert.equal(kept.apps[0]!.history!.store, 'memory');
  assert.throws(
    () => validateConfig(app({ channels: ['x'], store: 'broker' })),
    /apps\[0\]\.history\.store .*needs cluster\.driver redis/,
  );
  assert.throws(() => validateConfig(app({ channels: ['x'], store: 'disk' })), /apps\[0\]\.history\.store/);
});

test('apps[].history: bad values are refused with the path', () => {
  assert.throws(() => validateConfig(app({ channels: [] })), /apps\[0\]\.history\.channels must list at least one/);
  assert.throws(() => validateConfig(app({ channels: ['a b'] })), /apps\[0\]\.history\.channels\[0\]/);
  assert.throws(() => validateConfig(app({ channels: ['x', 'x'] })), /is listed twice/);
  assert.throws(() => validateConfig(app({ channels: ['x'], maxEvents: 0 })), /maxEvents/);
  assert.throws(() => validateConfig(app({ channels: ['x'], maxBytes: 10_000_000 })), /maxBytes/);
  assert.throws(() => validateConfig(app({ channels: ['x'], maxEvent: 5 })), /maxEvent .*not a known setting/);
});

test('channel patterns: `*` is any run of characters, the rest is literal', () => {
  const m = historyMatcher(['news-*', 'private-orders.*', 'exact']);
  for (const yes of ['news-', 'news-1', 'private-orders.42', 'exact']) assert.ok(m.test(yes), yes);
  for (const no of ['news', 'xnews-1', 'private-ordersX42', 'exactly', 'private-orders']) assert.ok(!m.test(no), no);
});
