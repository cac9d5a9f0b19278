/**
 * The owner's side of channel history: the streams this node sequences (one per channel it owns,
 * cluster/membership.ts's rendezvous choice; a single node owns everything). Each event gets the
 * next position of its channel's epoch (`wm_pos`) and is kept; a resume is answered from what is
 * kept. Publishing the positioned event is the caller's (history/streams.ts).
 */
import * as frames from '../protocol/frames.js';
import type { HistoryChannels } from './channels.js';
import { formatPosition, type Position } from './position.js';
import type { Answer } from './resume.js';
import { HistoryStore } from './store.js';

export class Sequencer {
  readonly store: HistoryStore;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(deps: { channels: HistoryChannels; now?: () => number }) {
    this.now = deps.now ?? Date.now;
    this.store = new HistoryStore((appId) => deps.channels.configOf(appId));
    const ages = [...deps.channels.all()].map((c) => c.maxAgeMs);
    if (ages.length > 0) {
      this.sweepTimer = setInterval(() => this.store.sweep(this.now()), Math.max(1_000, Math.min(...ages) / 4));
      this.sweepTimer.unref();
    }
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** Gives a channel event (built by frames.channelEvent) its position and keeps it; returns the positioned frame. */
  sequence(appId: string, topic: string, frame: string, pid?: string): string {
    const now = this.now();
    return this.store.open(appId, topic, now).append(now, (p) => frames.withPosition(frame, formatPosition(p)), pid);
  }

  /** Whether this node keeps a stream of `topic` (its own, or a copy of its owner's). */
  holds(appId: string, topic: string): boolean {
    return this.store.get(appId, topic) !== undefined;
  }

  /** What a client that has seen `from` missed (null: a new subscription, only the head). */
  answer(appId: string, topic: string, from: Position | null, id: string): Answer {
    const now = this.now();
    const stream = this.store.peek(appId, topic, now);
    const head = formatPosition(stream.head);
    if (from === null) return { kind: 'replay', id, status: 'ok', head, frames: [] };
    const since = stream.since(from, now);
    if (since.status === 'gap') return { kind: 'replay', id, status: 'gap', reason: since.reason, head, frames: [] };
    return { kind: 'replay', id, status: 'ok', head, frames: since.frames };
  }
}
