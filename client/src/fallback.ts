/**
 * Remembers socket failures so a broken socket does not cost every update: after `failures`
 * socket failures in a row within `windowMs`, updates use HTTP for `cooldownMs`; then the socket
 * is tried again ("half-open"): one success closes the breaker, one failure opens it again.
 * A failure is a tunnelled request lost to a timeout or to the socket dropping while in flight;
 * a server's deliberate `wiremesh:fallback` is not one. Pure: the clock is passed in.
 */
import { ConfigError } from './errors.js';

export interface BreakerOptions {
  /** Socket failures in a row that switch updates to HTTP. Default 3. */
  readonly failures: number;
  /** Those failures must fall within this many ms of the first. Default 60 000. */
  readonly windowMs: number;
  /** How long updates stay on HTTP before the socket is tried again. Default 30 000. */
  readonly cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { failures: 3, windowMs: 60_000, cooldownMs: 30_000 };

export type BreakerState = 'closed' | 'open' | 'half-open';

export function breakerOptions(partial: Partial<BreakerOptions> = {}): BreakerOptions {
  const options = { ...DEFAULT_BREAKER, ...partial };
  if (!Number.isInteger(options.failures) || options.failures < 1) {
    throw new ConfigError(`fallbackFor.failures must be an integer of at least 1, got ${String(options.failures)}`);
  }
  for (const key of ['windowMs', 'cooldownMs'] as const) {
    if (typeof options[key] !== 'number' || !(options[key] > 0) || !Number.isFinite(options[key])) {
      throw new ConfigError(`fallbackFor.${key} must be a positive number of ms, got ${String(options[key])}`);
    }
  }
  return options;
}

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private run = 0;
  private runStartedAt = 0;
  private openedAt = 0;

  constructor(
    private readonly options: BreakerOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.options.cooldownMs) this.current = 'half-open';
    return this.current;
  }

  /** May this request try the socket? */
  allow(): boolean {
    return this.state !== 'open';
  }

  success(): void {
    this.current = 'closed';
    this.run = 0;
  }

  failure(): void {
    const now = this.now();
    if (this.state === 'half-open') return this.open(now);
    if (this.run === 0 || now - this.runStartedAt > this.options.windowMs) {
      this.run = 0;
      this.runStartedAt = now;
    }
    this.run += 1;
    if (this.run >= this.options.failures) this.open(now);
  }

  private open(now: number): void {
    this.current = 'open';
    this.openedAt = now;
    this.run = 0;
  }
}
