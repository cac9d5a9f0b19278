import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer, type CoalescerClock } from './coalescer.js';

/** A clock moved by hand; timers fire in order when it passes their time. */
class ManualClock implements CoalescerClock {
  t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  pending(): number {
    return this.timers.size;
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

/** A render that ends when the test says so; records when each one started. */
class Renders {
  readonly starts: number[] = [];
  private readonly ends: Array<() => void> = [];
  constructor(private readonly clock: ManualClock) {}
  run = (): Promise<void> => {
    this.starts.push(this.clock.now());
    return new Promise((resolve) => this.ends.push(resolve));
  };
  get inFlight(): number {
    return this.ends.length;
  }
  async finish(): Promise<void> {
    const end = this.ends.shift();
    assert.ok(end, 'a render is in flight');
    end();
    await settle();
  }
}

function setup(windowMs = 100) {
  const clock = new ManualClock();
  const renders = new Renders(clock);
  const errors: unknown[] = [];
  const c = new Coalescer(renders.run, windowMs, (err) => errors.push(err), clock);
  return { clock, renders, errors, c };
}

describe('Coalescer', () => {
  it('renders a lone trigger at once (leading edge)', async () => {
    const { renders, c } = setup();
    c.trigger();
    assert.deepEqual(renders.starts, [0]);
    await renders.finish();
    assert.equal(c.busy, false);
  });

  it('coalesces triggers during a render into exactly one trailing render', async () => {
    const { clock, renders, c } = setup();
    c.trigger();
    for (let i = 0; i < 50; i++) c.trigger();
    assert.equal(renders.inFlight, 1, 'at most one render in flight');
    await clock.advance(500);
    assert.equal(renders.starts.length, 1, 'no second render while the first is in flight');
    await renders.finish();
    assert.deepEqual(renders.starts, [0, 500], 'one trailing render, started when the first ended');
    await renders.finish();
    await clock.advance(1000);
    assert.equal(renders.starts.length, 2, 'nothing more');
  });

  it('starts at most one render per window, the trailing one when the window has passed', async () => {
    const { clock, renders, c } = setup(100);
    c.trigger();
    await renders.finish(); // a fast render, done at t=0
    await clock.advance(30);
    c.trigger();
    c.trigger();
    assert.equal(renders.starts.length, 1, 'inside the window: waits');
    await clock.advance(69);
    assert.equal(renders.starts.length, 1);
    await clock.advance(1);
    assert.deepEqual(renders.starts, [0, 100]);
    await renders.finish();
  });

  it('a trigger after the window renders at once again', async () => {
    const { clock, renders, c } = setup(100);
    c.trigger();
    await renders.finish();
    await clock.advance(250);
    c.trigger();
    assert.deepEqual(renders.starts, [0, 250]);
    await renders.finish();
  });

  it('every trigger is followed by a render that starts after it', async () => {
    const { clock, renders, c } = setup(100);
    const triggers: number[] = [];
    // Triggers at uneven times, renders of uneven length.
    for (const [gap, renderMs] of [
      [0, 10],
      [5, 300],
      [40, 0],
      [120, 50],
      [1, 1],
      [400, 20],
    ] as const) {
      await clock.advance(gap);
      triggers.push(clock.now());
      c.trigger();
      while (renders.inFlight > 0 && renderMs === 0) await renders.finish();
      if (renders.inFlight > 0) {
        await clock.advance(renderMs);
        await renders.finish();
      }
    }
    for (let i = 0; i < 20 && c.busy; i++) {
      await clock.advance(100);
      while (renders.inFlight > 0) await renders.finish();
    }
    assert.equal(c.busy, false);
    for (const t of triggers)
      assert.ok(
        renders.starts.some((s) => s >= t),
        `a render started at or after the trigger at ${t}`,
      );
    for (let i = 1; i < renders.starts.length; i++) {
      assert.ok(
        renders.starts[i]! - renders.starts[i - 1]! >= 100,
        `renders start at least one window apart: ${renders.starts.join(',')}`,
      );
    }
  });

  it('window 0: renders back to back, still one in flight', async () => {
    const { renders, c } = setup(0);
    c.trigger();
    c.trigger();
    c.trigger();
    assert.equal(renders.inFlight, 1);
    await renders.finish();
    assert.equal(renders.starts.length, 2);
    await renders.finish();
    assert.equal(renders.starts.length, 2);
  });

  it('stop: no render starts after it, a waiting one is cancelled', async () => {
    const { clock, renders, c } = setup(100);
    c.trigger();
    await renders.finish();
    c.trigger();
    assert.equal(clock.pending(), 1);
    c.stop();
    assert.equal(clock.pending(), 0);
    c.trigger();
    await clock.advance(1000);
    assert.equal(renders.starts.length, 1);
  });

  it('a render that rejects goes to onError and the schedule goes on', async () => {
    const clock = new ManualClock();
    const errors: unknown[] = [];
    let n = 0;
    const c = new Coalescer(
      async () => {
        n++;
        if (n === 1) throw new Error('boom');
      },
      100,
      (err) => errors.push(err),
      clock,
    );
    c.trigger();
    await settle();
    assert.equal(errors.length, 1);
    c.trigger();
    await clock.advance(100);
    assert.equal(n, 2);
  });
});
