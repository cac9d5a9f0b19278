/**
 * Render scheduling of one fragment on one node: at most one render in flight, at most one render
 * started per window, and every trigger answered by a render that starts after it.
 *
 * - A trigger while idle, with the last start at least `windowMs` ago, starts a render at once
 *   (leading edge: a lone presence change is rendered without waiting).
 * - Triggers while a render is in flight, or within `windowMs` of the last start, coalesce into
 *   ONE trailing render, started when the render in flight has ended and the window has passed.
 * - Pure scheduling: no I/O; the clock and timers are injectable for tests.
 */

export interface CoalescerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: CoalescerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class Coalescer {
  #inFlight = false;
  #pending = false;
  #stopped = false;
  #lastStart = Number.NEGATIVE_INFINITY;
  #timer: unknown = null;

  /**
   * @param run one render; its rejection is handed to `onError` (it should not reject).
   * @param windowMs least time between two render starts.
   */
  constructor(
    private readonly run: () => Promise<void>,
    private readonly windowMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly clock: CoalescerClock = systemClock,
  ) {}

  /** Asks for a render that starts after this call. */
  trigger(): void {
    if (this.#stopped) return;
    this.#pending = true;
    this.#schedule();
  }

  /** No render starts after this; one in flight finishes. */
  stop(): void {
    this.#stopped = true;
    this.#pending = false;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** True while a render runs or one is waiting to start. */
  get busy(): boolean {
    return this.#inFlight || this.#pending;
  }

  #schedule(): void {
    if (this.#stopped || this.#inFlight || this.#timer !== null || !this.#pending) return;
    const wait = this.#lastStart + this.windowMs - this.clock.now();
    if (wait > 0) {
      this.#timer = this.clock.setTimeout(() => {
        this.#timer = null;
        this.#schedule();
      }, wait);
      return;
    }
    this.#pending = false;
    this.#inFlight = true;
    this.#lastStart = this.clock.now();
    void this.run()
      .catch(this.onError)
      .finally(() => {
        this.#inFlight = false;
        this.#schedule();
      });
  }
}
