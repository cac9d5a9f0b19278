import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TrackerState, type Change, type Delta, type Snapshot } from './state.js';

const T1 = 'app\u0000presence-room';
const T2 = 'app\u0000presence-other';

/** What travels between nodes is JSON. */
const wire = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const brief = (cs: Change[]): string[] => cs.map((c) => `${c.op} ${c.entry.replica}/${c.entry.ref}/${c.entry.key}`);
const keysOf = (s: TrackerState, topic: string): string[] =>
  s
    .entries(topic)
    .map((e) => `${e.replica}/${e.ref}/${e.key}`)
    .sort();

function mustDelta(s: TrackerState): Delta {
  const d = s.takeDelta();
  assert.ok(d, `expected a delta from ${s.replica}`);
  return wire(d);
}

describe('TrackerState: local ops', () => {
  it('join, leave and leaveRef return the changes they caused and bump the clock once per op', () => {
    const a = new TrackerState('A');
    assert.deepEqual(brief(a.join(T1, 'u1', 's1', { n: 1 })), ['join A/s1/u1']);
    assert.deepEqual(brief(a.join(T2, 'u1', 's1', { n: 1 })), ['join A/s1/u1']);
    assert.deepEqual(brief(a.join(T1, 'u2', 's2', null)), ['join A/s2/u2']);
    assert.deepEqual(a.clock(), { A: 3 });
    assert.equal(a.size(), 3);
    assert.deepEqual(a.topics().sort(), [T1, T2].sort());
    assert.deepEqual(
      a
        .entriesOfRef('s1')
        .map((e) => e.topic)
        .sort(),
      [T1, T2].sort(),
    );

    assert.deepEqual(brief(a.leave(T1, 's2')), ['leave A/s2/u2']);
    assert.deepEqual(a.leave(T1, 's2'), [], 'leaving twice is a no-op');
    assert.deepEqual(a.leave(T1, 'nope'), []);
    assert.deepEqual(brief(a.leaveRef('s1')), ['leave A/s1/u1', 'leave A/s1/u1']);
    assert.deepEqual(a.leaveRef('s1'), []);
    assert.equal(a.size(), 0);
    assert.deepEqual(a.topics(), []);
    assert.deepEqual(a.clock(), { A: 6 });
  });

  it('a second join of the same (topic, ref) is a no-op and does not bump the clock', () => {
    const a = new TrackerState('A');
    a.join(T1, 'u1', 's1', { n: 1 });
    assert.deepEqual(a.join(T1, 'u1', 's1', { n: 2 }), []);
    assert.deepEqual(a.clock(), { A: 1 });
    assert.deepEqual(
      a.entries(T1).map((e) => e.meta),
      [{ n: 1 }],
    );
  });

  it('entries are frozen', () => {
    const a = new TrackerState('A');
    const [c] = a.join(T1, 'u1', 's1', null);
    assert.ok(Object.isFrozen(c!.entry));
  });

  it('rejects a bad replica id at construction', () => {
    assert.throws(() => new TrackerState(''), { name: 'TypeError', message: /replica must be a non-empty string/ });
    assert.throws(() => new TrackerState('a\u0000b'), TypeError);
  });
});

describe('TrackerState: deltas', () => {
  it('takeDelta returns null when idle and covers (from, to] contiguously', () => {
    const a = new TrackerState('A');
    assert.equal(a.takeDelta(), null);
    a.join(T1, 'u1', 's1', null);
    a.join(T1, 'u2', 's2', null);
    const d1 = mustDelta(a);
    assert.deepEqual([d1.v, d1.replica, d1.from, d1.to, d1.ops.length], [1, 'A', 0, 2, 2]);
    assert.equal(a.takeDelta(), null);
    a.leave(T1, 's1');
    const d2 = mustDelta(a);
    assert.deepEqual(d2.ops, [{ op: 'leave', topic: T1, ref: 's1', clock: 3 }]);
    assert.equal(d2.from, 2);
  });

  it('replicates joins and leaves, and re-delivery is idempotent', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u1', 's1', { name: 'x' });
    const d1 = mustDelta(a);
    assert.deepEqual(brief(b.applyDelta(d1).changes), ['join A/s1/u1']);
    assert.deepEqual(b.entries(T1)[0]!.meta, { name: 'x' });
    assert.deepEqual(b.applyDelta(d1), { changes: [], gap: false });
    a.leave(T1, 's1');
    const d2 = mustDelta(a);
    assert.deepEqual(brief(b.applyDelta(d2).changes), ['leave A/s1/u1']);
    assert.deepEqual(b.applyDelta(d2), { changes: [], gap: false });
    assert.deepEqual(b.applyDelta(d1), { changes: [], gap: false }, 'an old delta is skipped');
    assert.equal(b.size(), 0);
    assert.deepEqual(b.clock(), { A: 2, B: 0 });
  });

  it('ignores echoes of its own deltas and snapshots', () => {
    const a = new TrackerState('A');
    a.join(T1, 'u1', 's1', null);
    const d = mustDelta(a);
    const snap = wire(a.snapshot());
    a.leave(T1, 's1');
    assert.deepEqual(a.applyDelta(d), { changes: [], gap: false });
    assert.deepEqual(a.applySnapshot(snap), []);
    assert.equal(a.size(), 0);
    assert.deepEqual(a.clock(), { A: 2 });
  });

  it('join then leave in one delta: the join is not sent, the receiver gets no entry and no change', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u1', 's1', { big: 'meta' });
    a.leave(T1, 's1');
    const d = mustDelta(a);
    assert.deepEqual(d.ops, [{ op: 'leave', topic: T1, ref: 's1', clock: 2 }]);
    assert.deepEqual(b.applyDelta(d), { changes: [], gap: false });
    assert.equal(b.size(), 0);
    assert.deepEqual(b.clock(), { A: 2, B: 0 });
  });

  it('a leave inside a delta still reaches a receiver that saw the join in a mid-range snapshot', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u0', 's0', null);
    a.takeDelta(); // lost on the way to B
    a.join(T1, 'u1', 's1', null); // clock 2
    const mid = wire(a.snapshot()); // clock 2, holds s0 and s1
    a.leave(T1, 's1'); // clock 3: cancels the pending join of s1
    a.join(T1, 'u3', 's3', null); // clock 4
    const d = mustDelta(a); // (1, 4]
    assert.equal(b.applyDelta(d).gap, true, 'B never saw clock 1');
    assert.deepEqual(brief(b.applySnapshot(mid)), ['join A/s0/u0', 'join A/s1/u1']);
    assert.deepEqual(brief(b.applyDelta(d).changes), ['leave A/s1/u1', 'join A/s3/u3']);
    assert.deepEqual(keysOf(b, T1), keysOf(a, T1));
  });

  it('a delta overlapping what a snapshot already covered reports only the ops beyond it', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u1', 's1', null);
    b.applySnapshot(wire(a.snapshot())); // clock 1, while s1's join is still pending in A
    a.join(T1, 'u2', 's2', null);
    const d = mustDelta(a); // (0, 2]: holds the join of s1 again
    assert.deepEqual(brief(b.applyDelta(d).changes), ['join A/s2/u2']);
    assert.deepEqual(keysOf(b, T1), keysOf(a, T1));
  });

  it('a join of a (topic, ref) already held replaces it (leave, join) without corrupting counts', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u1', 's1', 'old');
    b.applyDelta(mustDelta(a));
    const forged: Delta = {
      v: 1,
      replica: 'A',
      from: 1,
      to: 2,
      ops: [{ op: 'join', entry: { ...a.entries(T1)[0]!, meta: 'new', clock: 2 } }],
    };
    assert.deepEqual(brief(b.applyDelta(forged).changes), ['leave A/s1/u1', 'join A/s1/u1']);
    assert.equal(b.size(), 1);
    assert.deepEqual(
      b.entries(T1).map((e) => e.meta),
      ['new'],
    );
  });

  it('a lost delta is a gap: nothing applied, then a snapshot converges and later deltas apply', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u1', 's1', null);
    a.takeDelta(); // lost
    a.join(T1, 'u2', 's2', null);
    a.leave(T1, 's1');
    const d2 = mustDelta(a);
    assert.deepEqual(b.applyDelta(d2), { changes: [], gap: true });
    assert.equal(b.size(), 0);
    assert.deepEqual(b.replicas(), ['B'], 'a refused delta leaves no trace');
    assert.deepEqual(brief(b.applySnapshot(wire(a.snapshot()))), ['join A/s2/u2']);
    assert.deepEqual(b.applyDelta(d2), { changes: [], gap: false }, 'covered by the snapshot');
    a.join(T1, 'u3', 's3', null);
    assert.deepEqual(brief(b.applyDelta(mustDelta(a)).changes), ['join A/s3/u3']);
    assert.deepEqual(keysOf(b, T1), keysOf(a, T1));
  });

  it('a third replica can serve the snapshot; a stale snapshot is ignored', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    const c = new TrackerState('C');
    a.join(T1, 'u1', 's1', null);
    b.applyDelta(mustDelta(a));
    const fromB = wire(b.snapshot('A'));
    assert.equal(fromB.clock, 1);
    assert.deepEqual(brief(c.applySnapshot(fromB)), ['join A/s1/u1']);
    a.leave(T1, 's1');
    const d = mustDelta(a);
    c.applyDelta(d);
    assert.deepEqual(c.applySnapshot(fromB), [], 'older than what C has seen');
    assert.equal(c.size(), 0);
  });

  it('a snapshot replacement reports leaves for gone entries and joins for new ones only', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u1', 's1', null);
    a.join(T1, 'u2', 's2', null);
    b.applyDelta(mustDelta(a));
    a.leave(T1, 's1');
    a.join(T1, 'u1', 's1', 're-joined'); // same (topic, ref), new clock
    a.leave(T1, 's2');
    a.join(T2, 'u4', 's4', null);
    a.takeDelta(); // lost
    assert.deepEqual(
      brief(b.applySnapshot(wire(a.snapshot()))).sort(),
      ['join A/s1/u1', 'join A/s4/u4', 'leave A/s1/u1', 'leave A/s2/u2'].sort(),
    );
    assert.deepEqual(
      b.entries(T1).map((e) => e.meta),
      ['re-joined'],
    );
    assert.deepEqual(b.clock(), { A: 6, B: 0 });
  });

  it('a snapshot of an unknown replica is its empty state at clock 0', () => {
    const a = new TrackerState('A');
    assert.deepEqual(a.snapshot('Z'), { v: 1, replica: 'Z', clock: 0, entries: [] });
  });

  it('rejects malformed deltas and snapshots without applying anything', () => {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u1', 's1', null);
    a.join(T1, 'u2', 's2', null);
    const good = mustDelta(a);
    const bad = [
      { ...good, v: 2 },
      { ...good, from: 3 },
      { ...good, ops: [good.ops[1], good.ops[0]] },
      { ...good, ops: [{ op: 'join', entry: { ...(good.ops[0] as { entry: object }).entry, replica: 'X' } }] },
      { ...good, ops: [{ op: 'nope' }] },
    ];
    for (const d of bad) assert.throws(() => b.applyDelta(d as Delta), TypeError);
    const snap = wire(a.snapshot());
    assert.throws(() => b.applySnapshot({ ...snap, clock: 1 }), { message: /beyond the snapshot clock/ });
    assert.throws(
      () => b.applySnapshot({ ...snap, entries: [snap.entries[0]!, snap.entries[0]!] } as Snapshot),
      TypeError,
    );
    assert.equal(b.size(), 0);
    assert.deepEqual(b.replicas(), ['B']);
  });
});

describe('TrackerState: replica failure', () => {
  function pair(): { a: TrackerState; b: TrackerState } {
    const a = new TrackerState('A');
    const b = new TrackerState('B');
    a.join(T1, 'u1', 's1', null);
    a.join(T2, 'u2', 's2', null);
    b.applyDelta(mustDelta(a));
    b.join(T1, 'u9', 's9', null);
    return { a, b };
  }

  it('replicaDown hides entries as leaves; replicaUp brings them back as joins', () => {
    const { a, b } = pair();
    assert.deepEqual(brief(b.replicaDown('A')).sort(), ['leave A/s1/u1', 'leave A/s2/u2']);
    assert.ok(b.isDown('A'));
    assert.deepEqual(b.replicaDown('A'), [], 'already down');
    assert.deepEqual(keysOf(b, T1), ['B/s9/u9']);
    assert.deepEqual(b.topics(), [T1]);
    assert.equal(b.size(), 1);
    assert.deepEqual(b.clock(), { B: 1 }, 'clock() lists up replicas only');
    assert.deepEqual(b.replicas().sort(), ['A', 'B']);

    assert.deepEqual(brief(b.replicaUp('A')).sort(), ['join A/s1/u1', 'join A/s2/u2']);
    assert.equal(b.isDown('A'), false);
    assert.deepEqual(b.replicaUp('A'), []);
    assert.equal(b.size(), 3);
    assert.deepEqual(b.clock(), { A: 2, B: 1 });
    void a;
  });

  it('deltas and snapshots of a down replica update it silently; replicaUp shows the latest', () => {
    const { a, b } = pair();
    b.replicaDown('A');
    a.leave(T1, 's1');
    a.join(T1, 'u3', 's3', null);
    assert.deepEqual(b.applyDelta(mustDelta(a)), { changes: [], gap: false });
    assert.equal(b.size(), 1);
    a.leave(T2, 's2');
    a.takeDelta(); // lost
    assert.deepEqual(b.applySnapshot(wire(a.snapshot())), []);
    assert.ok(b.isDown('A'), 'a snapshot does not bring a replica up');
    assert.deepEqual(brief(b.replicaUp('A')), ['join A/s3/u3']);
    assert.deepEqual(keysOf(b, T1), keysOf(a, T1).concat('B/s9/u9').sort());
    assert.deepEqual(b.topics(), [T1]);
  });

  it('removeReplica forgets it: leaves for visible entries, none when already down', () => {
    const { b } = pair();
    assert.deepEqual(brief(b.removeReplica('A')).sort(), ['leave A/s1/u1', 'leave A/s2/u2']);
    assert.deepEqual(b.replicas(), ['B']);
    assert.equal(b.size(), 1);
    assert.deepEqual(b.removeReplica('A'), []);

    const p = pair();
    p.b.replicaDown('A');
    assert.deepEqual(p.b.removeReplica('A'), []);
    assert.deepEqual(p.b.replicaUp('A'), [], 'forgotten, not down');
    assert.equal(p.b.size(), 1);
    p.a.join(T1, 'u5', 's5', null);
    assert.equal(p.b.applyDelta(mustDelta(p.a)).gap, true, 'a forgotten replica starts over');
  });

  it('refuses to take down or remove the own replica', () => {
    const a = new TrackerState('A');
    assert.throws(() => a.replicaDown('A'), { name: 'RangeError', message: /own replica/ });
    assert.throws(() => a.removeReplica('A'), RangeError);
  });
});

describe('a replica that records no deltas (single node)', () => {
  it('keeps entries and reports changes, but holds no pending ops', () => {
    const s = new TrackerState('solo', { recordDeltas: false });
    for (let i = 0; i < 1000; i++) {
      assert.equal(s.join('t', `u${i}`, `s${i}`, null).length, 1);
      assert.equal(s.leave('t', `s${i}`).length, 1);
    }
    assert.equal(s.join('t', 'u', 's', null).length, 1);
    assert.equal(s.size(), 1);
    const delta = s.takeDelta();
    assert.ok(delta === null || delta.ops.length === 0, 'no ops were kept');
  });
});
