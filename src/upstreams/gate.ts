/**
 * The dispatch gate of one upstream: at most `slots` exchanges at once (the pool's connections),
 * a bounded queue behind them, and a queue timeout. A request that cannot be dispatched in time
 * is refused before it reaches the upstream (nothing has run, so the caller may use HTTP).
 * A slot is held until its exchange with the upstream has ended (the response body consumed or
 * destroyed, see UpstreamClient.request), not merely until the client lost interest.
 */

/** Why a request was not dispatched: the queue is full, or the wait ran out. */
export class GateRefusal extends Error {
  override readonly name = 'GateRefusal';
}

interface Waiter {
  grant(release: () => void): void;
  refuse(err: GateRefusal): void;
}

export class Gate {
  private active = 0;
  private readonly waiting = new Set<Waiter>();

  constructor(
    private readonly slots: number,
    private readonly maxQueued: number,
    private readonly queueTimeoutMs: number,
  ) {}

  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** A free slot's release function at once, or null when none is free now (or the signal has fired): then `acquire`. */
  tryAcquire(signal: AbortSignal): (() => void) | null {
    return !signal.aborted && this.active < this.slots ? this.take() : null;
  }

  /** Resolves with the slot's release function (call it exactly once); rejects GateRefusal or the signal's reason. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.active < this.slots) return Promise.resolve(this.take());
    if (this.waiting.size >= this.maxQueued) {
      return Promise.reject(new GateRefusal(`${this.waiting.size} requests are already waiting for this upstream`));
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiting.delete(waiter);
      };
      const waiter: Waiter = {
        grant: (release) => {
          done();
          resolve(release);
        },
        refuse: (err) => {
          done();
          reject(err);
        },
      };
      const onAbort = (): void => waiter.refuse(signal.reason as GateRefusal);
      const timer = setTimeout(
        () => waiter.refuse(new GateRefusal(`not dispatched to the upstream within ${this.queueTimeoutMs} ms`)),
        this.queueTimeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.add(waiter);
    });
  }

  private take(): () => void {
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      const next = this.waiting.values().next();
      if (!next.done) next.value.grant(this.take());
    };
  }
}
