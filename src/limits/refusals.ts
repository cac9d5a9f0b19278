/**
 * Every refusal by a limit is counted (`wiremesh_refusals_total{limit}`, a fixed set of labels)
 * and logged at `warn` once per episode and client address: the first refusal is logged at once
 * with the address; further ones from that address are only counted until it has been quiet for
 * `quietMs`, when one line says how many there were. So a flood writes two lines, not one per
 * attempt, and an operator can still tell one abusive address from many users. The number of
 * addresses followed at once is bounded; beyond it, refusals are grouped under `*`.
 */
import type { Logger } from '../log/logger.js';

export type LimitName =
  | 'connections'
  | 'connections_per_ip'
  | 'channels_per_connection'
  | 'frames_per_second'
  | 'replicated_subscriptions';

export interface RefusalCounter {
  inc(labels: { limit: LimitName }): void;
}

interface Episode {
  /** Refusals after the first (the first was logged). */
  more: number;
  since: number;
  last: number;
}

export class Refusals {
  private readonly episodes = new Map<string, Episode>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: {
      logger: Logger;
      counter: RefusalCounter;
      /** An episode ends after this long without a refusal from its address. */
      quietMs?: number;
      /** Addresses followed at once. */
      maxAddresses?: number;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  private get quietMs(): number {
    return this.deps.quietMs ?? 10_000;
  }

  /** Counts a refusal by `limit` of `address` (a client address, or a node for replicated state) and logs it once per episode. */
  refused(limit: LimitName, address: string, message: string, fields: Record<string, unknown> = {}): void {
    this.deps.counter.inc({ limit });
    const now = this.now();
    let key = limit + '\u0000' + address;
    let episode = this.episodes.get(key);
    if (episode === undefined && this.episodes.size >= (this.deps.maxAddresses ?? 1_000)) {
      key = limit + '\u0000*';
      episode = this.episodes.get(key);
      address = '*';
    }
    if (episode !== undefined) {
      episode.more += 1;
      episode.last = now;
      return;
    }
    this.episodes.set(key, { more: 0, since: now, last: now });
    this.deps.logger.warn(message, { limit, address, ...fields });
    this.schedule();
  }

  /** Ends the episodes that have been quiet long enough (also called by the timer). */
  sweep(): void {
    const now = this.now();
    for (const [key, e] of this.episodes) {
      if (now - e.last < this.quietMs) continue;
      this.episodes.delete(key);
      if (e.more === 0) continue;
      const i = key.indexOf('\u0000');
      this.deps.logger.warn('refusals from one address ended', {
        limit: key.slice(0, i),
        address: key.slice(i + 1),
        refused: e.more + 1,
        overMs: e.last - e.since,
      });
    }
    if (this.episodes.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.quietMs);
    this.timer.unref();
  }
}
