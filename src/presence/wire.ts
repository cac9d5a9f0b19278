/**
 * What travels between nodes for presence replication: versioned, JSON-serialisable envelopes
 * (`{ v: 1, ... }`), and the checks applied to them on arrival. A malformed envelope is refused
 * whole with a TypeError naming what is wrong; nothing of it is applied.
 */

export type ReplicaId = string;

/** One subscription. Frozen: entries are shared with callers, deltas and changes. */
export interface Entry {
  /** `appId\u0000channel`. */
  readonly topic: string;
  /** User id on presence channels, else the socket id. */
  readonly key: string;
  /** Socket id, unique within its replica. */
  readonly ref: string;
  readonly meta: unknown;
  readonly replica: ReplicaId;
  /** Owner's clock at the join: the entry's unique tag together with `replica`. */
  readonly clock: number;
}

/** One op of a delta; `clock` (the entry's, for a join) is the owner's clock at the op. */
export type DeltaOp = { op: 'join'; entry: Entry } | { op: 'leave'; topic: string; ref: string; clock: number };

/**
 * The owner's ops with clocks in (from, to], in order; JSON-serialisable (as long as `meta` is).
 * A join whose entry is left again within the same delta is omitted (its clock is a hole in the
 * range); its leave is always kept, because a receiver may hold that entry from a snapshot taken
 * in the middle of the range.
 */
export interface Delta {
  v: 1;
  replica: ReplicaId;
  from: number;
  to: number;
  ops: DeltaOp[];
}

/** All entries of ONE replica at its clock (down or not). */
export interface Snapshot {
  v: 1;
  replica: ReplicaId;
  clock: number;
  entries: Entry[];
}

/**
 * Unambiguous id of an entry slot within one replica, whatever characters topic and ref hold
 * (topics contain U+0000 themselves). Replica ids never contain U+0000, so `replica\0ref` is
 * unambiguous as it is.
 */
export function slotId(topic: string, ref: string): string {
  return `${ref.length}:${ref}${topic}`;
}

function fail(what: string): never {
  throw new TypeError(`presence: malformed ${what}`);
}

export function checkReplicaId(id: unknown, what: string): void {
  if (typeof id !== 'string' || id === '' || id.includes('\u0000')) {
    throw new TypeError(`${what} must be a non-empty string without U+0000`);
  }
}

function isClock(n: unknown): n is number {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}

function checkEntry(e: Entry, replica: ReplicaId, what: string): void {
  if (typeof e !== 'object' || e === null) fail(`${what}: entry is not an object`);
  if (typeof e.topic !== 'string' || typeof e.key !== 'string' || typeof e.ref !== 'string') {
    fail(`${what}: entry topic, key and ref must be strings`);
  }
  if (e.replica !== replica) fail(`${what}: entry of replica ${String(e.replica)} in ${replica}'s data`);
  if (!isClock(e.clock) || e.clock === 0) fail(`${what}: entry clock must be a positive integer`);
}

/** @throws TypeError unless `d` is a v1 delta whose op clocks increase within (from, to]. */
export function checkDelta(d: Delta): void {
  if (typeof d !== 'object' || d === null || d.v !== 1) fail('delta: expected { v: 1, ... }');
  checkReplicaId(d.replica, 'presence delta: replica');
  if (!isClock(d.from) || !isClock(d.to) || d.from > d.to) fail('delta: need integers 0 <= from <= to');
  if (!Array.isArray(d.ops)) fail('delta: ops must be an array');
  let last = d.from;
  for (const op of d.ops) {
    let clock: number;
    if (op?.op === 'join') {
      checkEntry(op.entry, d.replica, 'delta');
      clock = op.entry.clock;
    } else if (op?.op === 'leave') {
      if (typeof op.topic !== 'string' || typeof op.ref !== 'string') fail('delta: leave needs topic and ref');
      clock = op.clock;
    } else {
      fail('delta: op must be join or leave');
    }
    if (!isClock(clock) || clock <= last || clock > d.to) fail('delta: op clocks must increase within (from, to]');
    last = clock;
  }
}

/** @throws TypeError unless `s` is a v1 snapshot of distinct entries of `s.replica` at or below `s.clock`. */
export function checkSnapshot(s: Snapshot): void {
  if (typeof s !== 'object' || s === null || s.v !== 1) fail('snapshot: expected { v: 1, ... }');
  checkReplicaId(s.replica, 'presence snapshot: replica');
  if (!isClock(s.clock)) fail('snapshot: clock must be a non-negative integer');
  if (!Array.isArray(s.entries)) fail('snapshot: entries must be an array');
  const ids = new Set<string>();
  for (const e of s.entries) {
    checkEntry(e, s.replica, 'snapshot');
    if (e.clock > s.clock) fail('snapshot: entry clock beyond the snapshot clock');
    const id = slotId(e.topic, e.ref);
    if (ids.has(id)) fail('snapshot: two entries with the same topic and ref');
    ids.add(id);
  }
}
