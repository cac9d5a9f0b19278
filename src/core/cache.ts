/**
 * Last event of each cache channel (`cache-*`, `private-cache-*`, `presence-cache-*`), replayed to
 * new subscribers. Entries expire after `ttlMs` (Pusher keeps them 30 minutes).
 */
export interface CachedEvent {
  frame: string;
  at: number;
}

export class ChannelCache {
  private readonly entries = new Map<string, CachedEvent>();
  constructor(
    private readonly ttlMs = 30 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  set(topic: string, frame: string): void {
    this.entries.delete(topic); // keep Map order = age order for sweeping
    this.entries.set(topic, { frame, at: this.now() });
  }

  get(topic: string): string | undefined {
    const e = this.entries.get(topic);
    if (!e) return undefined;
    if (this.now() - e.at > this.ttlMs) {
      this.entries.delete(topic);
      return undefined;
    }
    return e.frame;
  }

  /** Drops expired entries; called from the core's periodic sweep. */
  sweep(): void {
    const limit = this.now() - this.ttlMs;
    for (const [topic, e] of this.entries) {
      if (e.at >= limit) break;
      this.entries.delete(topic);
    }
  }
}
