import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockedFor } from './pause.js';

test('blockedFor: jitter under half a period is no pause; from half a period on, the whole lateness is', () => {
  assert.equal(blockedFor(1_000, 1_000, 1_000), 0);
  assert.equal(blockedFor(1_000, 1_000, 1_499), 0);
  assert.equal(blockedFor(1_000, 1_000, 1_500), 500);
  assert.equal(blockedFor(1_000, 1_000, 5_000), 4_000);
  assert.equal(blockedFor(1_000, 1_000, 900), 0); // early
});
