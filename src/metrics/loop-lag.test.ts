import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoopLag, RESOLUTION_MS } from './loop-lag.js';

const spin = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

/** Keeps the loop ~80 % busy for `ms`, in tasks of 4 ms. */
async function busyFor(ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    spin(4);
    await sleep(1);
  }
}

test('an idle loop is sampled only by the checks: no 10 ms sampling, small lag', async (t) => {
  const lag = new LoopLag({ checkMs: 50 });
  t.after(() => lag.stop());
  await sleep(400);
  assert.equal(lag.fineSampling, false);
  assert.ok(lag.count >= 3 && lag.count <= 10, `checks only: ${lag.count} samples in 400 ms`);
  assert.ok(lag.lagSeconds() < 0.03, `idle lag ${lag.lagSeconds()} s`);
});

test('a busy loop turns the 10 ms sampling on, and idleness turns it off again', async (t) => {
  const lag = new LoopLag({ checkMs: 50 });
  t.after(() => lag.stop());
  await busyFor(300);
  assert.equal(lag.fineSampling, true);
  const samples = lag.count;
  await busyFor(200);
  // 10 ms samples on top of the checks' (which stop while the fine sampling runs).
  assert.ok(lag.count - samples >= 8, `${lag.count - samples} samples in 200 busy ms`);
  await sleep(300);
  assert.equal(lag.fineSampling, false);
});

test('one long block in an idle process still shows (shorter by at most checkMs)', async (t) => {
  const lag = new LoopLag({ checkMs: 50 });
  t.after(() => lag.stop());
  await sleep(120);
  assert.equal(lag.fineSampling, false);
  spin(300);
  await sleep(60);
  assert.ok(lag.max / 1e6 >= 300 - 50 + RESOLUTION_MS, `max ${lag.max / 1e6} ms after a 300 ms block`);
  assert.ok(lag.lagSeconds() > 0.02);
  lag.reset();
  assert.equal(lag.count, 0);
  assert.equal(lag.lagSeconds(), 0);
});
