/**
 * Replicated subscription/presence state (Phoenix.Tracker's `State`, simplified by the
 * single-writer rule). Pure: no I/O, no timers, no randomness, time is never read.
 *
 * Model
 * - A replica is one node process; its id changes on every start. Only the owner joins or leaves
 *   its own entries, and every local op bumps the owner's clock by one, so a replica's entries at
 *   clock c are a pure function of its ops 1..c.
 * - Per replica we keep the highest *contiguous* clock applied (`seen`). Deltas that do not start
 *   at or below `seen` are refused as a gap instead of being buffered, so the version vector is
 *   the whole causal context (no out-of-order tag "clouds" as in Phoenix).
 * - A snapshot is the exact entry set of one replica at a clock. Any node that knows replica r can
 *   serve r's snapshot, not only r itself.
 *
 * Guarantees
 * - Strong eventual consistency: two states that have applied the same ops of every replica, in any
 *   interleaving across replicas, by deltas or snapshots, hold the same entries.
 * - Every method that changes visible entries returns exactly the joins and leaves it caused (in
 *   the order they happened). Those are the only input a PresenceView needs.
 * - Echoes (deltas or snapshots of the own replica) are ignored.
 * - Costs: local ops O(1); leaveRef O(topics of the socket); applyDelta O(ops);
 *   applySnapshot / replicaDown / replicaUp / removeReplica O(entries of that replica).
 *   The queries by topic (`entries`, `topics`) scan every entry: the PresenceView is the index
 *   by topic, this state keeps one index only (by socket), which is what its ops need.
 * - Memory: one frozen Entry per subscription and one slot in its replica's map by ref; a socket
 *   with several topics adds a map of its own.
 */
import { checkDelta, checkReplicaId, checkSnapshot, slotId } from './wire.js';
import type { Delta, DeltaOp, Entry, ReplicaId, Snapshot } from './wire.js';

export type { Delta, DeltaOp, Entry, ReplicaId, Snapshot } from './wire.js';

/** A visible entry appeared (`join`) or disappeared (`leave`) on this node. */
export type Change = { op: 'join' | 'leave'; entry: Entry };

/** The entries of one ref (socket): the entry itself while there is one, else topic → entry. */
type RefEntries = Entry | Map<string, Entry>;

interface Replica {
  /** Highest contiguous clock applied. */
  clock: number;
  down: boolean;
  /** Entries held, visible or not. */
  count: number;
  /** ref → its entries: everything this replica holds, visible or not. */
  readonly byRef: Map<string, RefEntries>;
}

function entryOf(x: RefEntries | undefined, topic: string): Entry | undefined {
  if (x === undefined) return undefined;
  if (x instanceof Map) return x.get(topic);
  return x.topic === topic ? x : undefined;
}

function* entriesOf(x: RefEntries): Iterable<Entry> {
  if (x instanceof Map) yield* x.values();
  else yield x;
}

/** Every entry of a replica. */
function* allEntries(r: Replica): Iterable<Entry> {
  for (const x of r.byRef.values()) {
    if (x instanceof Map) yield* x.values();
    else yield x;
  }
}

export class TrackerState {
  readonly replica: ReplicaId;
  readonly #own: Replica;
  readonly #replicas = new Map<ReplicaId, Replica>();
  /** Entries of up replicas. */
  #visible = 0;
  /** Own ops since the last takeDelta; null marks a join cancelled by a later leave. */
  #pending: Array<DeltaOp | null> = [];
  /** slotId(topic, ref) → index in #pending of that entry's join. */
  readonly #pendingJoins = new Map<string, number>();
  #deltaFrom = 0;
  /** False on a node that replicates to nobody: own ops are not kept for takeDelta. */
  readonly #recordDeltas: boolean;

  /**
   * @param options.recordDeltas keep own ops for `takeDelta` (default true). A single node that
   *   never calls takeDelta must pass false, or the pending ops would grow without bound.
   * @throws TypeError if `replica` is empty or contains U+0000.
   */
  constructor(replica: ReplicaId, options: { recordDeltas?: boolean } = {}) {
    checkReplicaId(replica, 'TrackerState: replica');
    this.replica = replica;
    this.#recordDeltas = options.recordDeltas ?? true;
    this.#own = this.#addReplica(replica);
  }

  // ---- local ops (owner only) ----

  /** Adds an own entry. Joining the same (topic, ref) twice is a no-op returning []. */
  join(topic: string, key: string, ref: string, meta: unknown): Change[] {
    const own = this.#own;
    if (entryOf(own.byRef.get(ref), topic) !== undefined) return [];
    const entry = Object.freeze({ topic, key, ref, meta, replica: this.replica, clock: own.clock + 1 });
    own.clock = entry.clock;
    this.#insert(own, entry);
    if (this.#recordDeltas) {
      this.#pendingJoins.set(slotId(topic, ref), this.#pending.length);
      this.#pending.push({ op: 'join', entry });
    }
    return [{ op: 'join', entry }];
  }

  /** Removes an own entry; [] if there is none. */
  leave(topic: string, ref: string): Change[] {
    const own = this.#own;
    const entry = this.#remove(own, topic, ref);
    if (entry === undefined) return [];
    own.clock += 1;
    if (!this.#recordDeltas) return [{ op: 'leave', entry }];
    const id = slotId(topic, ref);
    const joinAt = this.#pendingJoins.get(id);
    if (joinAt !== undefined) {
      this.#pending[joinAt] = null;
      this.#pendingJoins.delete(id);
    }
    this.#pending.push({ op: 'leave', topic, ref, clock: own.clock });
    return [{ op: 'leave', entry }];
  }

  /** Leaves every topic of one own socket (disconnect). */
  leaveRef(ref: string): Change[] {
    const x = this.#own.byRef.get(ref);
    if (x === undefined) return [];
    const changes: Change[] = [];
    for (const { topic } of [...entriesOf(x)]) changes.push(...this.leave(topic, ref));
    return changes;
  }

  // ---- replication ----

  /** Highest contiguous clock applied per up replica, own included. */
  clock(): Record<ReplicaId, number> {
    const out: Array<[ReplicaId, number]> = [];
    for (const [id, r] of this.#replicas) if (!r.down) out.push([id, r.clock]);
    return Object.fromEntries(out);
  }

  /** Own ops since the last call, or null if there were none. Call once per heartbeat. */
  takeDelta(): Delta | null {
    const to = this.#own.clock;
    if (to === this.#deltaFrom) return null;
    const ops = this.#pending.filter((op): op is DeltaOp => op !== null);
    const delta: Delta = { v: 1, replica: this.replica, from: this.#deltaFrom, to, ops };
    this.#deltaFrom = to;
    this.#pending = [];
    this.#pendingJoins.clear();
    return delta;
  }

  /**
   * Everything known of `replica` (default: own) at its seen clock, hidden entries of a down
   * replica included. An unknown replica yields its trivial state: clock 0, no entries.
   */
  snapshot(replica: ReplicaId = this.replica): Snapshot {
    const r = this.#replicas.get(replica);
    const entries: Entry[] = [];
    if (r !== undefined) for (const e of allEntries(r)) entries.push(e);
    return { v: 1, replica, clock: r?.clock ?? 0, entries };
  }

  /**
   * Applies a delta of another replica. If `d.from` is beyond the seen clock of `d.replica`
   * (a delta was lost, or the replica is new to us mid-stream) nothing is applied and `gap` is
   * true: the caller should fetch `snapshot(d.replica)` from any peer and applySnapshot it.
   * Ops at or below the seen clock are skipped, so re-delivery is harmless. A delta of a down
   * replica updates its hidden entries and reports no changes (replicaUp reports them).
   * @throws TypeError if `d` is not a well-formed v1 delta (nothing is applied).
   */
  applyDelta(d: Delta): { changes: Change[]; gap: boolean } {
    checkDelta(d);
    if (d.replica === this.replica) return { changes: [], gap: false };
    const known = this.#replicas.get(d.replica);
    const seen = known?.clock ?? 0;
    if (d.from > seen) return { changes: [], gap: true };
    if (d.to <= seen) return { changes: [], gap: false };
    const r = known ?? this.#addReplica(d.replica);
    const changes: Change[] = [];
    for (const op of d.ops) {
      if (op.op === 'join') {
        if (op.entry.clock <= seen) continue;
        const { topic, key, ref, meta, clock } = op.entry;
        this.#replace(r, Object.freeze({ topic, key, ref, meta, replica: d.replica, clock }), changes);
      } else {
        if (op.clock <= seen) continue;
        const old = this.#remove(r, op.topic, op.ref);
        if (old !== undefined && !r.down) changes.push({ op: 'leave', entry: old });
      }
    }
    r.clock = d.to;
    return { changes, gap: false };
  }

  /**
   * Replaces everything known of `s.replica` by the snapshot when `s.clock` >= its seen clock
   * (older snapshots are ignored). Returns leaves for entries that are gone, then joins for new
   * ones; unchanged entries cause nothing. A down replica stays down (no changes reported).
   * @throws TypeError if `s` is not a well-formed v1 snapshot (nothing is applied).
   */
  applySnapshot(s: Snapshot): Change[] {
    checkSnapshot(s);
    if (s.replica === this.replica) return [];
    const known = this.#replicas.get(s.replica);
    if (known !== undefined && s.clock < known.clock) return [];
    const r = known ?? this.#addReplica(s.replica);
    const next = new Map<string, Entry>();
    for (const e of s.entries) next.set(slotId(e.topic, e.ref), e);
    const changes: Change[] = [];
    const gone: Entry[] = [];
    for (const e of allEntries(r)) {
      const id = slotId(e.topic, e.ref);
      if (next.get(id)?.clock === e.clock) next.delete(id);
      else gone.push(e);
    }
    for (const e of gone) {
      this.#remove(r, e.topic, e.ref);
      if (!r.down) changes.push({ op: 'leave', entry: e });
    }
    for (const { topic, key, ref, meta, clock } of next.values()) {
      this.#replace(r, Object.freeze({ topic, key, ref, meta, replica: s.replica, clock }), changes);
    }
    r.clock = s.clock;
    return changes;
  }

  /**
   * Hides r's entries (returned as leaves) but keeps them and r's clock. No-op if unknown or down.
   * @throws RangeError for the own replica (likewise replicaUp and removeReplica).
   */
  replicaDown(r: ReplicaId): Change[] {
    const rep = this.#other(r, 'replicaDown');
    if (rep === undefined || rep.down) return [];
    const changes: Change[] = [];
    for (const e of allEntries(rep)) changes.push({ op: 'leave', entry: e });
    this.#visible -= changes.length;
    rep.down = true;
    return changes;
  }

  /** A down replica is back (same identity): its entries return as joins. No-op otherwise. */
  replicaUp(r: ReplicaId): Change[] {
    const rep = this.#other(r, 'replicaUp');
    if (rep === undefined || !rep.down) return [];
    rep.down = false;
    const changes: Change[] = [];
    for (const e of allEntries(rep)) changes.push({ op: 'join', entry: e });
    this.#visible += changes.length;
    return changes;
  }

  /**
   * Forgets r entirely (leaves for its still-visible entries). Afterwards r is unknown: a later
   * delta of r applies only if it starts at 0, else it is a gap, like any new replica.
   */
  removeReplica(r: ReplicaId): Change[] {
    const rep = this.#other(r, 'removeReplica');
    if (rep === undefined) return [];
    const changes = rep.down ? [] : this.replicaDown(r);
    this.#replicas.delete(r);
    return changes;
  }

  /** Known replicas, up or down, own included. */
  replicas(): ReplicaId[] {
    return [...this.#replicas.keys()];
  }

  /** Entries held for replica `r` (visible or not); 0 if unknown. */
  entryCount(r: ReplicaId): number {
    return this.#replicas.get(r)?.count ?? 0;
  }

  isDown(r: ReplicaId): boolean {
    return this.#replicas.get(r)?.down ?? false;
  }

  // ---- queries (up replicas only) ----

  /** Entries of the topic. Scans every entry: for tests and diagnostics, not hot paths. */
  entries(topic: string): Entry[] {
    const out: Entry[] = [];
    for (const r of this.#replicas.values()) {
      if (!r.down) for (const e of allEntries(r)) if (e.topic === topic) out.push(e);
    }
    return out;
  }

  /** Entries of one own socket. */
  entriesOfRef(ref: string): Entry[] {
    const x = this.#own.byRef.get(ref);
    return x === undefined ? [] : [...entriesOf(x)];
  }

  /** Topics with entries. Scans every entry: for tests and diagnostics, not hot paths. */
  topics(): string[] {
    const out = new Set<string>();
    for (const r of this.#replicas.values()) if (!r.down) for (const e of allEntries(r)) out.add(e.topic);
    return [...out];
  }

  /** Number of visible entries. */
  size(): number {
    return this.#visible;
  }

  // ---- internals ----

  #addReplica(id: ReplicaId): Replica {
    const r: Replica = { clock: 0, down: false, count: 0, byRef: new Map() };
    this.#replicas.set(id, r);
    return r;
  }

  #other(r: ReplicaId, method: string): Replica | undefined {
    if (r === this.replica) throw new RangeError(`TrackerState.${method}: ${r} is the own replica`);
    return this.#replicas.get(r);
  }

  /** Inserts `e`, first removing an entry with the same (topic, ref); records visible changes. */
  #replace(r: Replica, e: Entry, changes: Change[]): void {
    const old = this.#remove(r, e.topic, e.ref);
    if (old !== undefined && !r.down) changes.push({ op: 'leave', entry: old });
    this.#insert(r, e);
    if (!r.down) changes.push({ op: 'join', entry: e });
  }

  /** Inserts `e`; the caller has made sure that there is no entry with the same (topic, ref). */
  #insert(r: Replica, e: Entry): void {
    const x = r.byRef.get(e.ref);
    if (x === undefined) r.byRef.set(e.ref, e);
    else if (x instanceof Map) x.set(e.topic, e);
    else
      r.byRef.set(
        e.ref,
        new Map([
          [x.topic, x],
          [e.topic, e],
        ]),
      );
    r.count += 1;
    if (!r.down) this.#visible += 1;
  }

  #remove(r: Replica, topic: string, ref: string): Entry | undefined {
    const x = r.byRef.get(ref);
    const e = entryOf(x, topic);
    if (e === undefined) return undefined;
    if (x instanceof Map) {
      x.delete(topic);
      if (x.size === 1) r.byRef.set(ref, x.values().next().value as Entry);
    } else {
      r.byRef.delete(ref);
    }
    r.count -= 1;
    if (!r.down) this.#visible -= 1;
    return e;
  }
}
