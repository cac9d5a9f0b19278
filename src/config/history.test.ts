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

test('apps[].history.store: the broker on the redis and nats drivers by default, memory elsewhere; broker needs one of them', () => {
  const redis = { driver: 'redis', redis: { url: 'redis://127.0.0.1:6379' } };
  assert.equal(validateConfig({ ...app({ channels: ['x'] }), cluster: redis }).apps[0]!.history!.store, 'broker');
  const nats = validateConfig({ ...app({ channels: ['x'] }), cluster: { driver: 'nats' } });
  assert.equal(nats.apps[0]!.history!.store, 'broker');
  assert.deepEqual([nats.cluster.nats.historyStorage, nats.cluster.nats.historyReplicas], ['file', 1]);
  assert.throws(
    () => validateConfig({ cluster: { driver: 'nats', nats: { historyStorage: 'disk' } } }),
    /cluster\.nats\.historyStorage/,
  );
  assert.throws(() => validateConfig({ cluster: { nats: { historyReplicas: 7 } } }), /cluster\.nats\.historyReplicas/);
  assert.equal(validateConfig(app({ channels: ['x'] })).apps[0]!.history!.store, 'memory');
  const kept = validateConfig({ ...app({ channels: ['x'], store: 'memory' }), cluster: redis });
  assert.equal(kept.apps[0]!.history!.store, 'memory');
  assert.throws(
    () => validateConfig(app({ channels: ['x'], store: 'broker' })),
    /apps\[0\]\.history\.store .*needs cluster\.driver redis or nats/,
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

test('channel patterns: the same answers as a plain glob, on random patterns and names', () => {
  // Reference: dynamic programming over (pattern position, name position).
  const glob = (p: string, s: string): boolean => {
    let row = new Array<boolean>(s.length + 1).fill(false);
    row[0] = true;
    for (const c of p) {
      const next = new Array<boolean>(s.length + 1).fill(false);
      for (let j = 0; j <= s.length; j++) {
        if (c === '*') next[j] = row[j]! || (j > 0 && next[j - 1]!);
        else next[j] = j > 0 && row[j - 1]! && s[j - 1] === c;
      }
      row = next;
    }
    return row[s.length]!;
  };
  let seed = 7;
  const rand = (n: number): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
  const word = (alphabet: string, max: number): string =>
    Array.from({ length: rand(max) + 1 }, () => alphabet[rand(alphabet.length)]).join('');
  for (let i = 0; i < 3_000; i++) {
    const patterns = Array.from({ length: rand(3) + 1 }, () => word('ab*.', 7));
    const name = word('ab.', 12);
    const want = patterns.some((p) => glob(p, name));
    assert.equal(historyMatcher(patterns).test(name), want, `${JSON.stringify(patterns)} on ${name}`);
  }
});

test('channel patterns: work grows linearly with the name, however many `*` (no backtracking)', () => {
  // `*-*-*-*-x` against a name of dashes without the final x: a backtracking matcher tries every
  // way to place four runs (n^4); this one tries each place of each part once.
  const m = historyMatcher(['*-*-*-*-x']);
  /** Nanoseconds per test, the best of three rounds of `reps`. */
  const cost = (n: number, reps: number): number => {
    const name = '-'.repeat(n);
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < reps; i++) assert.equal(m.test(name), false);
      best = Math.min(best, Number(process.hrtime.bigint() - t) / reps);
    }
    return best;
  };
  cost(15, 1_000); // warm up
  const small = cost(15, 2_000);
  const large = cost(150, 10);
  assert.ok(large < small * 60, `10 × longer name took ${(large / small).toFixed(1)} × as long`);
});
