import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';

test('default backoff doubles from 1 s and is capped at 60 s', () => {
  const exact = { ...DEFAULT_BACKOFF, random: () => 0.5 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => backoffDelay(n, exact)),
    [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000],
  );
});

test('jitter stays within ±20 % and never exceeds the cap', () => {
  assert.equal(backoffDelay(3, { ...DEFAULT_BACKOFF, random: () => 0 }), 3_200);
  assert.equal(backoffDelay(3, { ...DEFAULT_BACKOFF, random: () => 0.999999 }), 4_800);
  assert.equal(backoffDelay(6, { ...DEFAULT_BACKOFF, random: () => 0.999999 }), 38_400);
  assert.equal(backoffDelay(7, { ...DEFAULT_BACKOFF, random: () => 0.999999 }), 60_000);
});
