/**
 * The history of one channel kept by the node that sequences it: the epoch, the last serial handed
 * out, and the newest events (bounded by count, age and bytes). Pure state plus a clock.
 */
import { newEpoch, type Position } from './position.js';

export interface StreamLimits {
  maxEvents: number;
  maxAgeMs: number;
  maxBytes: number;
}

interface Entry {
  serial: number;
  at: number;
  frame: string;
  /** Which publish it was (`<node>:<n>`), for one sent by another node: a retry of it is not sequenced twice. */
  pid?: string;
}

export type Since =
  { status: 'ok'; head: Position; frames: string[] } | { status: 'gap'; reason: 'too_old' | 'reset'; head: Position };

export class ChannelStream {
  readonly epoch: string;
  private serial = 0;
  /** Oldest first; `first` is the index of the oldest kept entry (shifted lazily). */
  private entries: Entry[] = [];
  private first = 0;
  private size = 0;
  lastUsed: number;
  /** On the owner: the node that last got a copy of this stream (history/replication.ts). */
  replicaAt: string | undefined;
  /** Sequenced here (not a copy of another node's): handed whole to a node that takes it over. */
  sequencing = false;

  constructor(
    private readonly limits: StreamLimits,
    now: number,
    epoch = newEpoch(),
  ) {
    this.epoch = epoch;
    this.lastUsed = now;
  }

  get head(): Position {
    return { epoch: this.epoch, serial: this.serial };
  }

  /** Bytes of frames kept (UTF-16 length: what the strings hold in memory, roughly). */
  get bytes(): number {
    return this.size;
  }

  get length(): number {
    return this.entries.length - this.first;
  }

  /** Hands out the next serial; `build` makes the frame that carries it, which is kept. */
  append(now: number, build: (p: Position) => string, pid?: string): string {
    const serial = ++this.serial;
    const frame = build({ epoch: this.epoch, serial });
    // The frame is a rope of the event frame and the position; reading a character makes V8
    // flatten it in place, so what is kept costs ~40 % less (measured: 362 → 228 B per 200-char frame).
    frame.charCodeAt(0);
    this.entries.push(pid === undefined ? { serial, at: now, frame } : { serial, at: now, frame, pid });
    this.size += frame.length;
    this.lastUsed = now;
    while (this.length > this.limits.maxEvents || (this.size > this.limits.maxBytes && this.length > 1))
      this.dropOldest();
    this.expire(now);
    return frame;
  }

  /** Drops events older than the age limit; true when nothing is left. */
  expire(now: number): boolean {
    const oldest = now - this.limits.maxAgeMs;
    while (this.length > 0 && (this.entries[this.first] as Entry).at < oldest) this.dropOldest();
    return this.length === 0;
  }

  /** What a client that has seen `from` missed: every later event, or a gap if some are gone. */
  since(from: Position, now: number): Since {
    this.expire(now);
    const head = this.head;
    if (from.epoch !== this.epoch || from.serial > this.serial) return { status: 'gap', reason: 'reset', head };
    if (from.serial === this.serial) return { status: 'ok', head, frames: [] };
    const oldest = this.length > 0 ? (this.entries[this.first] as Entry).serial : this.serial + 1;
    if (from.serial + 1 < oldest) return { status: 'gap', reason: 'too_old', head };
    const frames: string[] = [];
    for (let i = this.first + (from.serial + 1 - oldest); i < this.entries.length; i++)
      frames.push((this.entries[i] as Entry).frame);
    return { status: 'ok', head, frames };
  }

  /** Every event kept, oldest first, and the head: what a new copy of this stream starts from. */
  snapshot(): { head: Position; frames: string[]; pids: string[] } {
    const frames: string[] = [];
    const pids: string[] = [];
    for (let i = this.first; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      frames.push(e.frame);
      pids.push(e.pid ?? '');
    }
    return { head: this.head, frames, pids };
  }

  /** The pid of the newest event (see Entry.pid). */
  get headPid(): string {
    return this.length > 0 ? ((this.entries[this.entries.length - 1] as Entry).pid ?? '') : '';
  }

  /** Whether the publish `pid` is among the events kept (newest first: a retry is of a recent one). */
  has(pid: string): boolean {
    for (let i = this.entries.length - 1; i >= this.first; i--) if ((this.entries[i] as Entry).pid === pid) return true;
    return false;
  }

  /**
   * A copy of the owner's stream: `frames` end at serial `head` (same epoch, checked by the
   * caller). Those at or before this copy's head are already here; if the copy missed events
   * between (a lost message), what it kept before is dropped, so a resume across the hole is told
   * it is gone (too_old) rather than served around it.
   */
  replicate(head: number, frames: readonly string[], now: number, pids?: readonly string[]): void {
    const first = head - frames.length + 1;
    if (first > this.serial + 1) {
      this.entries = [];
      this.first = 0;
      this.size = 0;
      this.serial = first - 1;
    }
    for (let i = Math.max(0, this.serial + 1 - first); i < frames.length; i++) {
      const frame = frames[i] as string;
      const pid = pids?.[i];
      this.entries.push(pid ? { serial: first + i, at: now, frame, pid } : { serial: first + i, at: now, frame });
      this.size += frame.length;
      this.serial = first + i;
    }
    this.lastUsed = now;
    while (this.length > this.limits.maxEvents || (this.size > this.limits.maxBytes && this.length > 1))
      this.dropOldest();
  }

  private dropOldest(): void {
    const e = this.entries[this.first] as Entry;
    this.size -= e.frame.length;
    this.first++;
    if (this.first > 64 && this.first * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.first);
      this.first = 0;
    }
  }
}
