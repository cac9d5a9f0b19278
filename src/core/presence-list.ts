/**
 * The member list a presence subscriber gets in `pusher_internal:subscription_succeeded`, kept
 * encoded per channel as bytes: each member is encoded once (`frames.presenceMember`), when it
 * first appears or its info changes, and appended to two growing byte buffers (the `ids` list and
 * the `hash` pairs, in the members' order). A subscription's frame is those two buffers as they
 * are, between a head and a tail (`frames.presenceSucceeded`): nothing of the size of the list is
 * allocated or copied per subscription, and the frames of a join storm share one copy.
 *
 * Building the list on every join made a 1,000-member join storm allocate copies of the whole
 * list per join (objects and two JSON passes at first; joined strings, the frame text and its
 * flattened copy later), and that garbage is what grew the process (bench/RESULTS.md, "Presence
 * memory").
 *
 * One cache per node; a channel's entry is dropped when its last local subscriber leaves.
 */
import * as frames from '../protocol/frames.js';

interface Encoded {
  readonly info: unknown;
  readonly id: string;
  readonly pair: string;
}

/**
 * Bytes appended in order, each element ending at a recorded offset, so a tail can be cut. What
 * `bytes()` hands out is never written again (frames still being written share it): appends go
 * past it, and cutting a tail that was handed out moves the kept part to a new buffer.
 */
class ByteList {
  private buf: Buffer = Buffer.allocUnsafeSlow(256);
  /** `ends[i]`: the length after element i (its separator comes before it). */
  private readonly ends: number[] = [];
  /** Bytes below this were handed out by `bytes()`. */
  private shared = 0;

  get length(): number {
    return this.ends.length === 0 ? 0 : this.ends[this.ends.length - 1]!;
  }

  /** Keeps the first `n` elements. */
  truncate(n: number): void {
    if (n >= this.ends.length) return;
    this.ends.length = n;
    const kept = this.length;
    if (kept < this.shared) this.moveTo(Buffer.allocUnsafeSlow(this.buf.length), kept);
  }

  push(text: string): void {
    const at = this.length;
    const sep = this.ends.length === 0 ? 0 : 1;
    const need = at + sep + Buffer.byteLength(text);
    if (need > this.buf.length) this.moveTo(Buffer.allocUnsafeSlow(Math.max(need, this.buf.length * 2)), at);
    if (sep === 1) this.buf[at] = 0x2c; // ','
    this.buf.write(text, at + sep);
    this.ends.push(need);
  }

  bytes(): Buffer {
    this.shared = this.length;
    return this.buf.subarray(0, this.shared);
  }

  private moveTo(next: Buffer, keep: number): void {
    this.buf.copy(next, 0, 0, keep);
    this.buf = next;
    this.shared = 0;
  }
}

/** One channel's members, encoded, in order. */
class EncodedMembers {
  /** Id → its encoding, for members seen in this channel. */
  private readonly byId = new Map<string, Encoded>();
  /** The members in the buffers, in order. */
  private readonly order: Encoded[] = [];
  readonly ids = new ByteList();
  readonly pairs = new ByteList();

  /**
   * Brings the buffers in line with `members`. Members keep their order between frames (joins
   * append); from the first difference on (a leave, a changed info) the tail is rebuilt from the
   * per-member encodings. `forEach`, not `for…of`: no entry array per member and call.
   */
  sync(members: ReadonlyMap<string, unknown>): void {
    let i = 0;
    let same = true;
    members.forEach((info, id) => {
      let e = this.byId.get(id);
      if (e === undefined || e.info !== info) this.byId.set(id, (e = { info, ...frames.presenceMember(id, info) }));
      if (same && this.order[i] === e) {
        i++;
        return;
      }
      if (same) {
        same = false;
        this.cut(i);
      }
      this.order.push(e);
      this.ids.push(e.id);
      this.pairs.push(e.pair);
      i++;
    });
    if (same) this.cut(i);
    if (this.byId.size > members.size) for (const id of this.byId.keys()) if (!members.has(id)) this.byId.delete(id);
  }

  private cut(n: number): void {
    if (n >= this.order.length) return;
    this.order.length = n;
    this.ids.truncate(n);
    this.pairs.truncate(n);
  }
}

export class PresenceLists {
  readonly #topics = new Map<string, EncodedMembers>();

  /** The `subscription_succeeded` frame for `channel` with `members` (id → user_info), in pieces. */
  frame(channel: string, topic: string, members: ReadonlyMap<string, unknown>): Buffer[] {
    let t = this.#topics.get(topic);
    if (t === undefined) this.#topics.set(topic, (t = new EncodedMembers()));
    t.sync(members);
    return frames.presenceSucceeded(channel, t.ids.bytes(), t.pairs.bytes(), members.size);
  }
  /** The channel has no local subscriber left. */
  forget(topic: string): void {
    this.#topics.delete(topic);
  }

  /** Channels with a cached list (for tests). */
  get size(): number {
    return this.#topics.size;
  }
}
