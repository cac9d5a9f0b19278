/** The resume budget per client address: a burst, a steady refill, and a bounded table. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResumeBudget } from './budget.js';

test('a burst of ten seconds of resumes, then one per 1/rate seconds; addresses apart', () => {
  let now = 0;
  const budget = new ResumeBudget(() => now);
  let granted = 0;
  for (let i = 0; i < 100; i++) if (budget.take('10.0.0.1', 2)) granted++;
  assert.equal(granted, 20, 'burst: 10 s × 2/s');
  assert.equal(budget.take('10.0.0.2', 2), true, 'another address has its own budget');
  now += 500;
  assert.equal(budget.take('10.0.0.1', 2), true, 'one more after half a second at 2/s');
  assert.equal(budget.take('10.0.0.1', 2), false);
  now += 60_000;
  granted = 0;
  for (let i = 0; i < 100; i++) if (budget.take('10.0.0.1', 2)) granted++;
  assert.equal(granted, 20, 'refilled to the burst, not beyond');
});
