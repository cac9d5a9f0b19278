/**
 * Decides when this node's stats travel in its heartbeats: only while someone watches a dashboard
 * somewhere in the cluster (this node served a viewer in the last WATCH_WINDOW_MS, or a live peer
 * said it is watching). Unwatched, a heartbeat carries nothing extra and nothing is computed.
 */
import type { NodeStats } from './stats.js';

export const WATCH_WINDOW_MS = 15_000;

export class StatsFeed {
  private lastViewAt = -Infinity;

  constructor(
    private readonly deps: {
      /** This node's stats now; `watching` says whether it serves a viewer itself. */
      collect: (watching: boolean) => NodeStats;
      /** Whether a live peer's last heartbeat said it is watching. */
      peerWatching: () => boolean;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** A viewer asked for data. */
  viewed(): void {
    this.lastViewAt = this.now();
  }

  get watching(): boolean {
    return this.now() - this.lastViewAt < WATCH_WINDOW_MS;
  }

  /** The heartbeat's `stats` field, or undefined while nobody watches. */
  forHeartbeat(): NodeStats | undefined {
    const watching = this.watching;
    if (!watching && !this.deps.peerWatching()) return undefined;
    return this.deps.collect(watching);
  }

  /** This node's stats for its own viewer. */
  local(): NodeStats {
    return this.deps.collect(this.watching);
  }
}
