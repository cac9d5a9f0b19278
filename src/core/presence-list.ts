/**
 * The member list a presence subscriber gets in `pusher_internal:subscription_succeeded`, kept
 * encoded per channel: each member is encoded once (`frames.presenceMember`), when it first
 * appears or its info changes, and each subscription joins the encoded members. Building the list
 * from objects on every join (a hash object, an ids array, then two JSON passes over it) made a
 * 1,000-member join storm allocate ~4 copies of the whole list per join, and that garbage is what
 * grew the heap (bench/RESULTS.md, "Presence memory").
 *
 * One cache per node; a channel's entry is dropped when its last local subscriber leaves.
 */
import * as frames from '../protocol/frames.js';

interface Encoded {
  readonly info: unknown;
  readonly id: string;
  readonly pair: string;
}

export class PresenceLists {
  readonly #topics = new Map<string, Map<string, Encoded>>();

  /** The whole `subscription_succeeded` frame for `channel` with `members` (id → user_info). */
  frame(channel: string, topic: string, members: ReadonlyMap<string, unknown>): string {
    let cached = this.#topics.get(topic);
    if (cached === undefined) this.#topics.set(topic, (cached = new Map()));
    const ids = new Array<string>(members.size);
    const pairs = new Array<string>(members.size);
    let i = 0;
    for (const [id, info] of members) {
      let e = cached.get(id);
      if (e === undefined || e.info !== info) cached.set(id, (e = { info, ...frames.presenceMember(id, info) }));
      ids[i] = e.id;
      pairs[i++] = e.pair;
    }
    if (cached.size > members.size) for (const id of cached.keys()) if (!members.has(id)) cached.delete(id);
    return frames.subscriptionSucceeded(channel, { ids, pairs });
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
