/**
 * The one refusal log: events (refusals) logged per episode and client, so a flood writes two
 * lines, not one per attempt, and an operator can still tell one abusive client from many users.
 *
 * - A key is a scope (a limit, a reason code: a fixed set) and a client address. The first event
 *   of a key is logged at once at `warn`; repeats are only counted until the key has been quiet
 *   for `quietMs`. Then the episode ends, and if it had repeats one summary line says how many
 *   events there were (`refused`) over how long (`overMs`). The next event starts a new episode.
 * - At most `maxKeys` keys are followed at once; beyond, the clients of a scope are grouped under
 *   client `*` until episodes end.
 * - At most `maxLinesPerSecond` lines are written over all keys, so many clients cannot flood the
 *   log either (events are still counted by the caller's metrics).
 *
 * Every line names the client as `client`, and the scope as `scopeField` when one is given.
 * Metrics are not counted here: each caller counts its own, with its own labels.
 */
import type { LogContext, Logger } from '../log/logger.js';

export interface EpisodeLogOptions {
  logger: Logger;
  /** The message of the line that ends an episode with repeats. */
  summary: string;
  /** The field naming the scope in every line (`limit`, `code`); absent: the scope is not logged. */
  scopeField?: string;
  /** An episode ends after this long without an event of its key. */
  quietMs?: number;
  /** Keys followed at once. */
  maxKeys?: number;
  /** Lines written per second over all keys. */
  maxLinesPerSecond?: number;
  now?: () => number;
}

interface Episode {
  scope: string;
  client: string;
  since: number;
  last: number;
  /** Events after the first (the first was logged). */
  more: number;
}

export class EpisodeLog {
  private readonly episodes = new Map<string, Episode>();
  private readonly quietMs: number;
  private readonly maxKeys: number;
  private readonly maxLines: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private second = 0;
  private linesThisSecond = 0;

  constructor(private readonly opts: EpisodeLogOptions) {
    this.quietMs = opts.quietMs ?? 10_000;
    this.maxKeys = opts.maxKeys ?? 1_000;
    this.maxLines = opts.maxLinesPerSecond ?? 20;
    this.now = opts.now ?? Date.now;
  }

  /** One event of `client` in `scope`: logged as `msg` with `fields` if it starts an episode, else counted. */
  note(scope: string, client: string, msg: string, fields: LogContext = {}): void {
    const now = this.now();
    let key = scope + '\u0000' + client;
    let episode = this.open(key, now);
    if (episode === undefined && this.episodes.size >= this.maxKeys) {
      client = '*';
      key = scope + '\u0000*';
      episode = this.open(key, now);
    }
    if (episode !== undefined) {
      episode.more += 1;
      episode.last = now;
      return;
    }
    this.episodes.set(key, { scope, client, since: now, last: now, more: 0 });
    this.line(now, msg, { ...fields, ...this.identity(scope, client) });
    this.schedule();
  }

  /** Ends the episodes that have been quiet long enough (also called by a timer while any is open). */
  sweep(): void {
    const now = this.now();
    for (const [key, episode] of this.episodes) if (now - episode.last >= this.quietMs) this.end(key, episode, now);
    if (this.episodes.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Episodes open now (tests). */
  get size(): number {
    return this.episodes.size;
  }

  /** The episode of `key` if it is still open; one quiet for `quietMs` is ended first (even before a sweep). */
  private open(key: string, now: number): Episode | undefined {
    const episode = this.episodes.get(key);
    if (episode === undefined || now - episode.last < this.quietMs) return episode;
    this.end(key, episode, now);
    return undefined;
  }

  private end(key: string, episode: Episode, now: number): void {
    this.episodes.delete(key);
    if (episode.more === 0) return;
    this.line(now, this.opts.summary, {
      ...this.identity(episode.scope, episode.client),
      refused: episode.more + 1,
      overMs: episode.last - episode.since,
    });
  }

  private identity(scope: string, client: string): LogContext {
    return this.opts.scopeField === undefined ? { client } : { [this.opts.scopeField]: scope, client };
  }

  private line(now: number, msg: string, fields: LogContext): void {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.linesThisSecond = 0;
    }
    if (++this.linesThisSecond <= this.maxLines) this.opts.logger.warn(msg, fields);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.quietMs);
    this.timer.unref();
  }
}
