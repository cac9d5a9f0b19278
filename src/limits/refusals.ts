/**
 * Every refusal by a limit is counted (`wiremesh_refusals_total{limit}`, a fixed set of labels)
 * and logged at `warn` once per episode and client address (episode-log.ts): the first refusal
 * at once with the `client`, a summary line with the count when the address has been quiet for
 * `quietMs`. Beyond `maxAddresses` followed at once, refusals are grouped under client `*`.
 */
import type { LogContext, Logger } from '../log/logger.js';
import { EpisodeLog } from './episode-log.js';

export type LimitName =
  | 'connections'
  | 'connections_per_ip'
  | 'sockets'
  | 'sockets_per_ip'
  | 'channels_per_connection'
  | 'subscriptions_per_ip'
  | 'resumes_per_ip'
  | 'frames_per_second'
  | 'replicated_subscriptions';

export interface RefusalCounter {
  inc(labels: { limit: LimitName }): void;
}

export class Refusals {
  private readonly log: EpisodeLog;

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
    this.log = new EpisodeLog({
      logger: deps.logger,
      summary: 'refusals from one address ended',
      scopeField: 'limit',
      quietMs: deps.quietMs ?? 10_000,
      maxKeys: deps.maxAddresses ?? 1_000,
      ...(deps.now === undefined ? {} : { now: deps.now }),
    });
  }

  /** Counts a refusal by `limit` of `address` (a client address, or a node for replicated state) and logs it once per episode. */
  refused(limit: LimitName, address: string, message: string, fields: LogContext = {}): void {
    this.deps.counter.inc({ limit });
    this.log.note(limit, address, message, fields);
  }

  /** Ends the episodes that have been quiet long enough (also called by a timer). */
  sweep(): void {
    this.log.sweep();
  }
}
