import { test } from 'node:test';
import assert from 'node:assert/strict';
import { breakerOptions, CircuitBreaker } from '../src/fallback.js';

function clock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('opens after N failures in a row within the window, for the cool-down', () => {
  const time = clock();
  const breaker = new CircuitBreaker(breakerOptions({ failures: 3, windowMs: 1_000, cooldownMs: 500 }), time.now);
  breaker.failure();
  breaker.failure();
  assert.equal(breaker.allow(), true);
  breaker.failure();
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.allow(), false);
  time.advance(499);
  assert.equal(breaker.allow(), false);
  time.advance(1);
  assert.equal(breaker.state, 'half-open');
  assert.equal(breaker.allow(), true);
});

test('half-open: one success closes, one failure opens again', () => {
  const time = clock();
  const breaker = new CircuitBreaker(breakerOptions({ failures: 2, cooldownMs: 100 }), time.now);
  breaker.failure();
  breaker.failure();
  time.advance(100);
  assert.equal(breaker.state, 'half-open');
  breaker.failure();
  assert.equal(breaker.state, 'open');
  time.advance(100);
  breaker.success();
  assert.equal(breaker.state, 'closed');
  breaker.failure();
  assert.equal(breaker.state, 'closed', 'the run starts again after a success');
});

test('a success breaks the run; failures spread beyond the window do not add up', () => {
  const time = clock();
  const breaker = new CircuitBreaker(breakerOptions({ failures: 3, windowMs: 1_000 }), time.now);
  breaker.failure();
  breaker.failure();
  breaker.success();
  breaker.failure();
  breaker.failure();
  assert.equal(breaker.state, 'closed');
  time.advance(1_001);
  breaker.failure();
  breaker.failure();
  assert.equal(breaker.state, 'closed');
  breaker.failure();
  assert.equal(breaker.state, 'open');
});

test('bad settings fail with one precise message', () => {
  assert.throws(() => breakerOptions({ failures: 1.5 }), {
    name: 'ConfigError',
    message: 'fallbackFor.failures must be an integer of at least 1, got 1.5',
  });
  assert.throws(() => breakerOptions({ cooldownMs: -1 }), {
    message: 'fallbackFor.cooldownMs must be a positive number of ms, got -1',
  });
  assert.throws(() => breakerOptions({ windowMs: Infinity }), {
    message: 'fallbackFor.windowMs must be a positive number of ms, got Infinity',
  });
  assert.deepEqual(breakerOptions(), { failures: 3, windowMs: 60_000, cooldownMs: 30_000 });
});
