/** Retry delays: exponential (base, 2×base, 4×base, …) with ±20 % jitter, capped at `maxMs`. Pure. */

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Uniform in [0, 1); injectable so tests are deterministic. */
  random: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, maxMs: 60_000, random: Math.random };

/** Delay before the retry that follows failed attempt number `attempt` (1-based). */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const exponential = opts.baseMs * 2 ** Math.min(attempt - 1, 30);
  const jittered = exponential * (0.8 + 0.4 * opts.random());
  return Math.min(opts.maxMs, Math.round(jittered));
}
