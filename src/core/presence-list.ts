/**
 * The member list a presence subscriber gets in `pusher_internal:subscription_succeeded`, kept
 * pre-serialised per channel: each member's id and `"id":info` pair are JSON-encoded and escaped
 * for the frame's string-in-a-string `data` once, when the member first appears (or its info
 * changes), and each subscription joins the fragments. Building the list from objects on every
 * join (a hash object, an ids array, then two JSON passes over it) made a 1,000-member join storm
 * allocate ~4 copies of the whole list per join, and that garbage is what grew the heap
 * (bench/RESULTS.md, "Presence memory"). The text is what stringifying `{ presence }` twice gives,
 * except that the hash lists members in join order (JSON objects are unordered; `JSON.stringify`
 * would put integer-like ids first).
 *
 * One cache per node; a channel's entry is dropped when its last local subscriber leaves.
 */
const str = JSON.stringify;

/** `JSON.stringify(s)` without its quotes: `s` as it appears inside a JSON string. */
function inString(s: string): string {
  const q = str(s);
  return q.slice(1, -1);
}

interface Fragment {
  readonly info: unknown;
  /** `"id"`, escaped. */
  readonly id: string;
  /** `"id":info`, escaped. */
  readonly pair: string;
}

function fragment(id: string, info: unknown): Fragment {
  const key = str(id);
  return { info, id: inString(key), pair: inString(`${key}:${str(info ?? null)}`) };
}

export class PresenceLists {
  readonly #topics = new Map<string, Map<string, Fragment>>();

  /** The whole `subscription_succeeded` frame for `channel` with `members` (id → user_info). */
  frame(channel: string, topic: string, members: ReadonlyMap<string, unknown>): string {
    let cached = this.#topics.get(topic);
    if (cached === undefined) this.#topics.set(topic, (cached = new Map()));
    const ids = new Array<string>(members.size);
    const pairs = new Array<string>(members.size);
    let i = 0;
    for (const [id, info] of members) {
      let f = cached.get(id);
      if (f === undefined || f.info !== info) cached.set(id, (f = fragment(id, info)));
      ids[i] = f.id;
      pairs[i++] = f.pair;
    }
    if (cached.size > members.size) for (const id of cached.keys()) if (!members.has(id)) cached.delete(id);
    const data = `"{\\"presence\\":{\\"ids\\":[${ids.join(',')}],\\"hash\\":{${pairs.join(',')}},\\"count\\":${members.size}}}"`;
    return `{"event":"pusher_internal:subscription_succeeded","channel":${str(channel)},"data":${data}}`;
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
