/**
 * Refusals of the tunnel (fallbacks a client caused, bad origins, ...) logged at warn with the
 * client's address, at most once per address and reason per window: the first refusal of an
 * episode is logged at once, repeats within the window are counted and reported with the next
 * line. Bounded: at most MAX_KEYS address/reason pairs are remembered (the oldest go first).
 */
import type { LogContext, Logger } from '../log/logger.js';

export const REFUSAL_LOG_WINDOW_MS = 10_000;
const MAX_KEYS = 1024;

export class RefusalLog {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly windowMs = REFUSAL_LOG_WINDOW_MS,
  ) {}

  /** Logs (or counts) one refusal of `client` for `reason` (a short fixed code: a bounded key). */
  refused(msg: string, client: string, reason: string, ctx: LogContext = {}): void {
    const key = `${client}\0${reason}`;
    const t = this.now();
    const entry = this.seen.get(key);
    if (entry && t - entry.at < this.windowMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.seen.delete(key);
    this.seen.set(key, { at: t, suppressed: 0 });
    for (const oldest of this.seen.keys()) {
      if (this.seen.size <= MAX_KEYS) break;
      this.seen.delete(oldest);
    }
    this.logger.warn(msg, { client, code: reason, ...ctx, ...(suppressed > 0 ? { suppressed } : {}) });
  }
}
