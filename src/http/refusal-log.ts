/**
 * Refusals of HTTP requests (413, 401/403, an unknown app): counted in a metric by reason, and
 * logged at `warn` with the client address once per episode. An episode of an address ends after
 * `quietMs` without a refusal from it; the next refusal logs again, with how many the previous
 * episode suppressed. Addresses remembered are bounded (the oldest is forgotten first), and so is
 * the number of lines per second over all addresses, so many addresses cannot flood the log either.
 */
import type { Logger } from '../log/logger.js';

export type RefusalReason = 'too_large' | 'unauthorized' | 'forbidden' | 'unknown_app' | 'bad_request' | 'not_found';

export interface RefusalLogOptions {
  logger: Logger;
  /** Counter with one label, `reason` (a bounded set). */
  count: (reason: RefusalReason) => void;
  quietMs?: number;
  maxAddresses?: number;
  maxLinesPerSecond?: number;
  now?: () => number;
}

interface Episode {
  lastAt: number;
  suppressed: number;
}

export class RefusalLog {
  private readonly episodes = new Map<string, Episode>();
  private readonly quietMs: number;
  private readonly maxAddresses: number;
  private readonly maxLines: number;
  private readonly now: () => number;
  private second = 0;
  private linesThisSecond = 0;

  constructor(private readonly opts: RefusalLogOptions) {
    this.quietMs = opts.quietMs ?? 60_000;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
    this.maxLines = opts.maxLinesPerSecond ?? 20;
    this.now = opts.now ?? Date.now;
  }

  refused(address: string, reason: RefusalReason, status: number, detail: string): void {
    this.opts.count(reason);
    const now = this.now();
    const episode = this.episodes.get(address);
    if (episode !== undefined && now - episode.lastAt < this.quietMs) {
      episode.lastAt = now;
      episode.suppressed++;
      // Most recently refused last: the map's first entry is the one to forget when full.
      this.episodes.delete(address);
      this.episodes.set(address, episode);
      return;
    }
    if (episode !== undefined) this.episodes.delete(address);
    else if (this.episodes.size >= this.maxAddresses) this.forgetOldest();
    this.episodes.set(address, { lastAt: now, suppressed: 0 });
    if (!this.lineAllowed(now)) return;
    const previous = episode?.suppressed ?? 0;
    this.opts.logger.warn('http request refused', {
      client: address,
      reason,
      status,
      detail,
      quietMs: this.quietMs,
      ...(previous > 0 ? { suppressedInPreviousEpisode: previous } : {}),
    });
  }

  private forgetOldest(): void {
    for (const key of this.episodes.keys()) {
      this.episodes.delete(key);
      return;
    }
  }

  private lineAllowed(now: number): boolean {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.linesThisSecond = 0;
    }
    return ++this.linesThisSecond <= this.maxLines;
  }
}

/** The refusal a status stands for (the HTTP API's answers); null for what is not a refusal. */
export function refusalReason(status: number, unknownApp: boolean): RefusalReason | null {
  if (unknownApp) return 'unknown_app';
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 413:
      return 'too_large';
    default:
      return null;
  }
}
