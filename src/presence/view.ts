/**
 * Derives the transitions the Pusher protocol announces (`channel_occupied` / `vacated`,
 * `member_added` / `member_removed`, subscription counts) from the changes a TrackerState
 * returns. Each node feeds its own view with every Change[] its state produces (local ops,
 * applyDelta, applySnapshot, replicaDown/Up, removeReplica) and tells its own sockets only.
 * Pure and incremental: no scans of the whole state.
 *
 * Same-call net rule: the transitions of one `apply()` call compare the counts before the call
 * with the counts after it, per topic and per (topic, key). Changes inside one call never surface
 * on their own: [leave u(sock1), join u(sock2)] yields no member_removed / member_added (a user
 * reconnecting quickly does not flap), and [join, leave] of one entry yields nothing at all.
 * Consequence, the guarantee callers rely on: summed over all apply() calls of one view,
 * member_added − member_removed for a (topic, key) is 1 while the key is present and 0 otherwise
 * (likewise occupied − vacated per topic), so each view announces each transition once.
 *
 * Ordering of one call's transitions: topics in the order the call first touched them; per topic
 * `occupied`, then member transitions in first-touch order of their keys, then `vacated`; finally
 * one `count` per topic whose subscription count differs from before the call.
 */
import type { Change, Entry } from './state.js';

export type Transition =
  | { kind: 'occupied'; topic: string }
  | { kind: 'vacated'; topic: string }
  | { kind: 'member_added'; topic: string; key: string; meta: unknown }
  | { kind: 'member_removed'; topic: string; key: string }
  | { kind: 'count'; topic: string; count: number };

/** A key (user) with several entries (sockets) in one topic. */
interface KeyGroup {
  /** `replica\0ref` → entry. */
  readonly entries: Map<string, Entry>;
  /** The entry whose meta is shown: least by (replica, clock). */
  first: Entry;
}

/**
 * The entries of one key in one topic: the entry itself while there is one (the common case:
 * every public-channel subscription is its own key), a KeyGroup beyond that.
 */
type KeyView = Entry | KeyGroup;

const isGroup = (k: KeyView): k is KeyGroup => (k as Partial<KeyGroup>).entries instanceof Map;
const firstOf = (k: KeyView): Entry => (isGroup(k) ? k.first : k);
const slot = (e: Entry): string => e.replica + '\u0000' + e.ref;

function sizeOf(k: KeyView): number {
  return isGroup(k) ? k.entries.size : 1;
}

interface TopicView {
  subs: number;
  readonly keys: Map<string, KeyView>;
  /**
   * key → meta of its first entry, built on the first members() call for the topic and kept
   * incrementally from then on (presence channels); never built for topics nobody lists.
   */
  members: Map<string, unknown> | null;
}

const NO_MEMBERS: ReadonlyMap<string, unknown> = new Map();

/** Deterministic order of entries, the same on every node (replica ids are never re-used). */
function before(a: Entry, b: Entry): boolean {
  return a.replica === b.replica ? a.clock < b.clock : a.replica < b.replica;
}

export class PresenceView {
  readonly #topics = new Map<string, TopicView>();

  /**
   * Applies changes in order and returns the transitions of their net effect (see the module
   * comment). A leave of an entry the view does not hold, or a second join of one it holds, is
   * ignored, so counts always equal the entries actually held.
   */
  apply(changes: readonly Change[]): Transition[] {
    if (changes.length === 1) return this.#applyOne(changes[0] as Change);
    const subsBefore = new Map<string, number>();
    const keysBefore = new Map<string, Map<string, number>>();
    for (const { op, entry } of changes) {
      const { topic, key } = entry;
      let keys = keysBefore.get(topic);
      if (keys === undefined) {
        subsBefore.set(topic, this.subscriptionCount(topic));
        keysBefore.set(topic, (keys = new Map()));
      }
      if (!keys.has(key)) keys.set(key, this.keyCount(topic, key));
      if (op === 'join') this.#add(entry);
      else this.#remove(entry);
    }

    const out: Transition[] = [];
    for (const [topic, subs] of subsBefore) {
      const now = this.subscriptionCount(topic);
      if (subs === 0 && now > 0) out.push({ kind: 'occupied', topic });
      for (const [key, count] of keysBefore.get(topic)!) {
        const present = this.keyCount(topic, key) > 0;
        if (count === 0 && present) {
          out.push({ kind: 'member_added', topic, key, meta: firstOf(this.#topics.get(topic)!.keys.get(key)!).meta });
        } else if (count > 0 && !present) {
          out.push({ kind: 'member_removed', topic, key });
        }
      }
      if (subs > 0 && now === 0) out.push({ kind: 'vacated', topic });
    }
    for (const [topic, subs] of subsBefore) {
      const now = this.subscriptionCount(topic);
      if (now !== subs) out.push({ kind: 'count', topic, count: now });
    }
    return out;
  }

  /** apply() of one change (every local join and leave): the same transitions, no bookkeeping maps. */
  #applyOne({ op, entry }: Change): Transition[] {
    const { topic, key } = entry;
    const subs = this.subscriptionCount(topic);
    const count = this.keyCount(topic, key);
    if (op === 'join') this.#add(entry);
    else this.#remove(entry);
    const now = this.subscriptionCount(topic);
    if (now === subs) return [];
    const out: Transition[] = [];
    if (subs === 0) out.push({ kind: 'occupied', topic });
    const present = this.keyCount(topic, key) > 0;
    if (count === 0 && present) out.push({ kind: 'member_added', topic, key, meta: entry.meta });
    else if (count > 0 && !present) out.push({ kind: 'member_removed', topic, key });
    if (now === 0) out.push({ kind: 'vacated', topic });
    out.push({ kind: 'count', topic, count: now });
    return out;
  }

  /** Entries (sockets) in the topic. */
  subscriptionCount(topic: string): number {
    return this.#topics.get(topic)?.subs ?? 0;
  }

  /** Distinct keys (users) in the topic. */
  userCount(topic: string): number {
    return this.#topics.get(topic)?.keys.size ?? 0;
  }

  /**
   * key → meta, kept incrementally (O(1) to get; the live map, do not hold on to it across
   * apply calls). A key with several entries shows the meta of its least entry by
   * (replica, clock): deterministic, and the same on every node holding the same entries.
   */
  members(topic: string): ReadonlyMap<string, unknown> {
    const t = this.#topics.get(topic);
    if (t === undefined) return NO_MEMBERS;
    if (t.members === null) {
      t.members = new Map();
      for (const [key, k] of t.keys) t.members.set(key, firstOf(k).meta);
    }
    return t.members;
  }

  hasMember(topic: string, key: string): boolean {
    return this.#topics.get(topic)?.keys.has(key) ?? false;
  }

  /** Entries of (topic, key): the user's sockets in the channel, across all up replicas. */
  keyCount(topic: string, key: string): number {
    const k = this.#topics.get(topic)?.keys.get(key);
    return k === undefined ? 0 : sizeOf(k);
  }

  /** Occupied topics. */
  topics(): string[] {
    return [...this.#topics.keys()];
  }

  #add(e: Entry): void {
    let t = this.#topics.get(e.topic);
    if (t === undefined) this.#topics.set(e.topic, (t = { subs: 0, keys: new Map(), members: null }));
    const k = t.keys.get(e.key);
    if (k === undefined) {
      t.keys.set(e.key, e);
      t.members?.set(e.key, e.meta);
    } else if (isGroup(k)) {
      const id = slot(e);
      if (k.entries.has(id)) return;
      k.entries.set(id, e);
      if (before(e, k.first)) {
        k.first = e;
        t.members?.set(e.key, e.meta);
      }
    } else {
      if (k.replica === e.replica && k.ref === e.ref) return;
      const group: KeyGroup = {
        entries: new Map([
          [slot(k), k],
          [slot(e), e],
        ]),
        first: before(e, k) ? e : k,
      };
      t.keys.set(e.key, group);
      t.members?.set(e.key, group.first.meta);
    }
    t.subs += 1;
  }

  #remove(e: Entry): void {
    const t = this.#topics.get(e.topic);
    const k = t?.keys.get(e.key);
    if (t === undefined || k === undefined) return;
    if (isGroup(k)) {
      if (!k.entries.delete(slot(e))) return;
    } else if (k.replica !== e.replica || k.ref !== e.ref) {
      return;
    }
    t.subs -= 1;
    if (!isGroup(k) || k.entries.size === 0) {
      t.keys.delete(e.key);
      t.members?.delete(e.key);
      if (t.subs === 0) this.#topics.delete(e.topic);
    } else if (k.first.replica === e.replica && k.first.ref === e.ref) {
      let first: Entry | undefined;
      for (const x of k.entries.values()) if (first === undefined || before(x, first)) first = x;
      k.first = first!;
      t.members?.set(e.key, first!.meta);
    }
  }
}
