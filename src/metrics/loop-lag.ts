/**
 * Event-loop lag that does not wake an idle process. Node's native delay histogram samples with a
 * 10 ms timer (prom-client's precision): 100 wake-ups a second even when nothing happens, which
 * on a small VM cost an idle node ~12 ms of CPU a second (bench/RESULTS.md). Lag only builds up
 * while the loop is busy, so the 10 ms sampling runs only then: a check every `checkMs` (100 ms:
 * ten wake-ups a second) reads the loop's utilization since the last check and turns the fine
 * sampling on above `busy` and off below it. While it is off, the check records its own lateness:
 * a block longer than `checkMs` always covers a check's due time, so one long synchronous task in
 * an idle process still shows (shorter by at most `checkMs`); a shorter one in the first
 * `checkMs` of activity may be missed.
 *
 * Both kinds of sample are the time from one sample to the next as the fine histogram counts it
 * (the 10 ms period plus the delay): `lagSeconds` subtracts the period.
 */
import { createHistogram, monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

export const RESOLUTION_MS = 10;

export interface LoopLagOptions {
  /** How often the loop's utilization is read (ms). */
  checkMs?: number;
  /** Utilization (0–1) from which the 10 ms sampling runs. */
  busy?: number;
}

export class LoopLag {
  private readonly fine = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private readonly idle = createHistogram();
  private readonly checkMs: number;
  private readonly busy: number;
  private readonly timer: NodeJS.Timeout;
  private last: EventLoopUtilization = performance.eventLoopUtilization();
  private due: number;
  private sampling = false;

  constructor(options: LoopLagOptions = {}) {
    this.checkMs = options.checkMs ?? 100;
    this.busy = options.busy ?? 0.02;
    this.due = performance.now() + this.checkMs;
    this.timer = setInterval(() => this.check(), this.checkMs);
    this.timer.unref();
  }

  /** True while the 10 ms sampling runs (the loop was busy at the last check). */
  get fineSampling(): boolean {
    return this.sampling;
  }

  get count(): number {
    return this.fine.count + this.idle.count;
  }

  /** Nanoseconds, like the histograms. */
  get min(): number {
    if (this.fine.count === 0) return this.idle.count === 0 ? 0 : this.idle.min;
    return this.idle.count === 0 ? this.fine.min : Math.min(this.fine.min, this.idle.min);
  }

  get max(): number {
    return Math.max(this.fine.count === 0 ? 0 : this.fine.max, this.idle.count === 0 ? 0 : this.idle.max);
  }

  get mean(): number {
    const n = this.count;
    if (n === 0) return 0;
    return (
      ((this.fine.count === 0 ? 0 : this.fine.mean * this.fine.count) +
        (this.idle.count === 0 ? 0 : this.idle.mean * this.idle.count)) /
      n
    );
  }

  /** From the 10 ms samples when there are any (the loop was busy), else from the checks. */
  get stddev(): number {
    const h = this.fine.count > 0 ? this.fine : this.idle;
    return h.count === 0 ? 0 : h.stddev;
  }

  percentile(p: number): number {
    const h = this.fine.count > 0 ? this.fine : this.idle;
    return h.count === 0 ? 0 : h.percentile(p);
  }

  /** Mean delay beyond the sampling period, seconds (0 without samples). */
  lagSeconds(): number {
    return this.count === 0 ? 0 : Math.max(0, this.mean / 1e9 - RESOLUTION_MS / 1000);
  }

  reset(): void {
    this.fine.reset();
    this.idle.reset();
  }

  stop(): void {
    clearInterval(this.timer);
    this.fine.disable();
    this.sampling = false;
  }

  private check(): void {
    const now = performance.now();
    const late = Math.max(0, now - this.due);
    this.due = now + this.checkMs;
    const current = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(current, this.last);
    this.last = current;
    // A block while the fine sampling was off delayed this check: counted as one sample.
    if (!this.sampling) this.idle.record(Math.max(1, Math.round((RESOLUTION_MS + late) * 1e6)));
    if (utilization >= this.busy && !this.sampling) {
      this.fine.enable();
      this.sampling = true;
    } else if (utilization < this.busy && this.sampling) {
      this.fine.disable();
      this.sampling = false;
    }
  }
}
