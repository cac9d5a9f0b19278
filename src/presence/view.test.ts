import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TrackerState, type Change, type Delta, type Entry } from './state.js';
import { PresenceView, type Transition } from './view.js';

const T1 = 'app\u0000presence-room';
const T2 = 'app\u0000presence-other';

function entry(replica: string, clock: number, ref: string, key: string, meta: unknown = null, topic = T1): Entry {
  return { topic, key, ref, meta, replica, clock };
}
const join = (e: Entry): Change => ({ op: 'join', entry: e });
const leave = (e: Entry): Change => ({ op: 'leave', entry: e });
const kinds = (ts: Transition[]): string[] =>
  ts.map((t) => ('key' in t ? `${t.kind}:${t.key}` : t.kind === 'count' ? `count:${t.count}` : t.kind));

/** One node: its state, its view, and every transition its view announced. */
class Node {
  readonly state: TrackerState;
  readonly view = new PresenceView();
  readonly announced: Transition[] = [];
  constructor(readonly id: string) {
    this.state = new TrackerState(id);
  }
  feed(changes: Change[]): Transition[] {
    const ts = this.view.apply(changes);
    this.announced.push(...ts);
    this.checkViewMatchesState();
    return ts;
  }
  join(topic: string, key: string, ref: string, meta: unknown = null): Transition[] {
    return this.feed(this.state.join(topic, key, ref, meta));
  }
  leave(topic: string, ref: string): Transition[] {
    return this.feed(this.state.leave(topic, ref));
  }
  /** Applies a delta (as JSON); on a gap, catches up from `catchUp`'s snapshot of the sender. */
  receive(d: Delta, catchUp: Node): void {
    const { changes, gap } = this.state.applyDelta(JSON.parse(JSON.stringify(d)) as Delta);
    this.feed(changes);
    if (gap) this.feed(this.state.applySnapshot(JSON.parse(JSON.stringify(catchUp.state.snapshot(d.replica)))));
  }
  /** Net member_added − member_removed announced for (topic, key). */
  memberBalance(topic: string, key: string): number {
    let n = 0;
    for (const t of this.announced) {
      if (t.topic !== topic || !('key' in t) || t.key !== key) continue;
      n += t.kind === 'member_added' ? 1 : -1;
    }
    return n;
  }
  count(kind: Transition['kind'], topic: string, key?: string): number {
    return this.announced.filter(
      (t) => t.kind === kind && t.topic === topic && (key === undefined || ('key' in t && t.key === key)),
    ).length;
  }
  checkViewMatchesState(): void {
    for (const topic of new Set([...this.state.topics(), ...this.view.topics()])) {
      const es = this.state.entries(topic);
      assert.equal(this.view.subscriptionCount(topic), es.length, `${this.id}: subscriptions of ${topic}`);
      assert.deepEqual([...this.view.members(topic).keys()].sort(), [...new Set(es.map((e) => e.key))].sort());
    }
  }
}

function broadcast(from: Node, to: Node[]): void {
  const d = from.state.takeDelta();
  if (d) for (const n of to) n.receive(d, from);
}

describe('PresenceView: one replica', () => {
  it('counts a user with two sockets once and removes it when the last socket leaves', () => {
    const n = new Node('A');
    assert.deepEqual(kinds(n.join(T1, 'u1', 's1', { name: 'one' })), ['occupied', 'member_added:u1', 'count:1']);
    assert.deepEqual(n.announced[1], { kind: 'member_added', topic: T1, key: 'u1', meta: { name: 'one' } });
    assert.deepEqual(kinds(n.join(T1, 'u1', 's2')), ['count:2']);
    assert.deepEqual(n.join(T1, 'u1', 's2'), [], 'double join: no change, no transition');
    assert.deepEqual([n.view.subscriptionCount(T1), n.view.userCount(T1), n.view.keyCount(T1, 'u1')], [2, 1, 2]);
    assert.ok(n.view.hasMember(T1, 'u1'));
    assert.deepEqual(kinds(n.leave(T1, 's1')), ['count:1']);
    assert.ok(n.view.hasMember(T1, 'u1'));
    assert.deepEqual(kinds(n.leave(T1, 's2')), ['member_removed:u1', 'vacated', 'count:0']);
    assert.equal(n.view.hasMember(T1, 'u1'), false);
    assert.deepEqual(n.view.topics(), []);
    assert.equal(n.view.members(T1).size, 0);
  });

  it('leaveRef of a socket in two topics yields the transitions of both', () => {
    const n = new Node('A');
    n.join(T1, 'u1', 's1');
    n.join(T2, 'u1', 's1');
    n.join(T2, 'u2', 's2');
    assert.deepEqual(kinds(n.feed(n.state.leaveRef('s1'))), [
      'member_removed:u1',
      'vacated',
      'member_removed:u1',
      'count:0',
      'count:1',
    ]);
  });
});

describe('PresenceView: same-call net rule', () => {
  it('a leave and a join of one key within one call do not flap; in two calls they do', () => {
    const old = entry('A', 1, 's1', 'u1');
    const fresh = entry('A', 2, 's2', 'u1');
    const v = new PresenceView();
    v.apply([join(old)]);
    assert.deepEqual(v.apply([leave(old), join(fresh)]), []);
    assert.equal(v.keyCount(T1, 'u1'), 1);

    const w = new PresenceView();
    w.apply([join(old)]);
    assert.deepEqual(kinds(w.apply([leave(old)])), ['member_removed:u1', 'vacated', 'count:0']);
    assert.deepEqual(kinds(w.apply([join(fresh)])), ['occupied', 'member_added:u1', 'count:1']);
  });

  it('a join and a leave of one entry within one call yield nothing', () => {
    const e = entry('A', 1, 's1', 'u1');
    assert.deepEqual(new PresenceView().apply([join(e), leave(e)]), []);
  });

  it('unknown leaves and repeated joins do not corrupt the counts', () => {
    const v = new PresenceView();
    const e = entry('A', 1, 's1', 'u1');
    assert.deepEqual(v.apply([leave(e)]), []);
    v.apply([join(e), join(e)]);
    assert.equal(v.subscriptionCount(T1), 1);
  });
});

describe('PresenceView: members()', () => {
  it('shows the meta of the least entry by (replica, clock), whatever the arrival order', () => {
    const a = entry('A', 5, 'sa', 'u1', 'from A');
    const b = entry('B', 1, 'sb', 'u1', 'from B');
    const a2 = entry('A', 7, 'sa2', 'u1', 'from A later');
    for (const order of [
      [a, b, a2],
      [b, a2, a],
      [a2, b, a],
    ]) {
      const v = new PresenceView();
      for (const e of order) v.apply([join(e)]);
      assert.equal(v.members(T1).get('u1'), 'from A');
      v.apply([leave(a)]);
      assert.equal(v.members(T1).get('u1'), 'from A later');
      v.apply([leave(a2)]);
      assert.equal(v.members(T1).get('u1'), 'from B');
    }
  });

  it('member_added carries the meta members() shows after the call', () => {
    const v = new PresenceView();
    const ts = v.apply([join(entry('B', 1, 'sb', 'u1', 'b')), join(entry('A', 1, 'sa', 'u1', 'a'))]);
    assert.deepEqual(ts[1], { kind: 'member_added', topic: T1, key: 'u1', meta: 'a' });
  });
});

describe('PresenceView over replicated state', () => {
  it('concurrent joins of one user on two replicas: one member_added per view; concurrent last leaves: one member_removed', () => {
    const [a, b, c] = [new Node('A'), new Node('B'), new Node('C')];
    a.join(T1, 'u1', 'a1');
    b.join(T1, 'u1', 'b1');
    broadcast(a, [b, c]);
    broadcast(b, [c, a]);
    for (const n of [a, b, c]) {
      assert.equal(n.count('member_added', T1, 'u1'), 1, `${n.id} member_added`);
      assert.equal(n.count('occupied', T1), 1, `${n.id} occupied`);
      assert.equal(n.view.keyCount(T1, 'u1'), 2);
    }
    a.leave(T1, 'a1');
    b.leave(T1, 'b1');
    broadcast(b, [a, c]);
    broadcast(a, [c, b]);
    for (const n of [a, b, c]) {
      assert.equal(n.count('member_removed', T1, 'u1'), 1, `${n.id} member_removed`);
      assert.equal(n.count('vacated', T1), 1, `${n.id} vacated`);
      assert.equal(n.view.hasMember(T1, 'u1'), false);
    }
  });

  it('three replicas, deltas in different orders and one lost: gap → snapshot → converge', () => {
    const [a, b, c] = [new Node('A'), new Node('B'), new Node('C')];
    a.join(T1, 'u1', 'a1', 'a');
    const a1 = a.state.takeDelta()!;
    a.join(T1, 'u2', 'a2', 'a');
    a.leave(T1, 'a1');
    const a2 = a.state.takeDelta()!;
    b.join(T1, 'u2', 'b1', 'b');
    const b1 = b.state.takeDelta()!;
    c.join(T2, 'u3', 'c1', 'c');
    const c1 = c.state.takeDelta()!;

    b.receive(a1, a);
    b.receive(a2, a);
    b.receive(c1, c);
    c.receive(b1, b);
    c.receive(a2, b); // a1 lost: gap, catch up from B's copy of A
    c.receive(a1, a); // late: skipped
    a.receive(c1, c);
    a.receive(b1, b);

    for (const n of [a, b, c]) {
      assert.deepEqual([...n.view.members(T1)].sort(), [['u2', 'a']], `${n.id} members of T1`);
      assert.deepEqual([...n.view.members(T2)], [['u3', 'c']]);
      assert.equal(n.view.subscriptionCount(T1), 2);
      assert.equal(n.memberBalance(T1, 'u1'), 0);
      assert.equal(n.memberBalance(T1, 'u2'), 1);
    }
    assert.equal(c.count('member_added', T1, 'u1'), 0, 'C never saw u1, who left before C caught up');
  });

  it('replicaDown announces removals for users only on that replica; replicaUp announces them back', () => {
    const [a, b] = [new Node('A'), new Node('B')];
    a.join(T1, 'u1', 'a1');
    a.join(T1, 'u2', 'a2');
    b.join(T1, 'u2', 'b2');
    broadcast(a, [b]);
    assert.deepEqual(kinds(b.feed(b.state.replicaDown('A'))), ['member_removed:u1', 'count:1']);
    assert.deepEqual(kinds(b.feed(b.state.replicaUp('A'))), ['member_added:u1', 'count:3']);
    assert.deepEqual(kinds(b.feed(b.state.removeReplica('A'))), ['member_removed:u1', 'count:1']);
  });

  it('echoes of own deltas cause no transitions', () => {
    const a = new Node('A');
    a.join(T1, 'u1', 'a1');
    const d = a.state.takeDelta()!;
    const before = a.announced.length;
    a.receive(d, a);
    assert.equal(a.announced.length, before);
  });
});

/** mulberry32: a small deterministic PRNG, so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('convergence property', () => {
  const TOPICS = [T1, T2, 'app\u0000presence-third'];
  const KEYS = ['u1', 'u2', 'u3', 'u4'];

  function run(seed: number): void {
    const rnd = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const nodes = ['A', 'B', 'C'].map((id) => new Node(id));
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const inbox = new Map(nodes.map((n) => [n.id, [] as Delta[]]));
    const send = (from: Node): void => {
      const d = from.state.takeDelta();
      if (d) for (const n of nodes) if (n !== from && rnd() > 0.1) inbox.get(n.id)!.push(d); // 10% lost
    };

    for (let step = 0; step < 400; step++) {
      const n = pick(nodes);
      const r = rnd();
      const ref = `${n.id}-s${Math.floor(rnd() * 6)}`;
      const key = KEYS[ref.charCodeAt(ref.length - 1) % KEYS.length]!; // a socket is always one user
      if (r < 0.35) n.join(pick(TOPICS), key, ref, { key, by: ref });
      else if (r < 0.5) n.leave(pick(TOPICS), ref);
      else if (r < 0.55) n.feed(n.state.leaveRef(ref));
      else if (r < 0.7) send(n);
      else if (r < 0.9) {
        const box = inbox.get(n.id)!;
        if (box.length > 0) {
          const [d] = box.splice(Math.floor(rnd() * box.length), 1);
          n.receive(d!, pick(nodes.filter((m) => m !== n))); // snapshot from any peer, maybe stale
        }
      } else if (r < 0.95) n.feed(n.state.replicaDown(pick(nodes.filter((m) => m !== n)).id));
      else n.feed(n.state.replicaUp(pick(nodes.filter((m) => m !== n)).id));
    }

    // Full exchange: everyone back up, drain every delta, catch up gaps from the owner.
    for (const n of nodes) for (const m of nodes) if (m !== n) n.feed(n.state.replicaUp(m.id));
    for (const n of nodes) {
      const d = n.state.takeDelta();
      for (const m of nodes) if (m !== n && d) m.receive(d, n);
    }
    for (const n of nodes) for (const d of inbox.get(n.id)!) n.receive(d, byId.get(d.replica)!);
    // Heartbeat check: a node still behind an owner's clock (a lost last delta) asks for a snapshot.
    for (const n of nodes) {
      for (const m of nodes) {
        if (m !== n && n.state.clock()[m.id] !== m.state.clock()[m.id]) {
          n.feed(n.state.applySnapshot(JSON.parse(JSON.stringify(m.state.snapshot()))));
        }
      }
    }

    const ref = nodes[0]!;
    for (const n of nodes) {
      assert.deepEqual(n.state.clock(), ref.state.clock(), `seed ${seed}: clocks of ${n.id}`);
      for (const topic of TOPICS) {
        assert.deepEqual(
          [...n.view.members(topic)].sort(),
          [...ref.view.members(topic)].sort(),
          `seed ${seed}: members of ${topic} on ${n.id}`,
        );
        assert.equal(n.view.subscriptionCount(topic), ref.view.subscriptionCount(topic));
        for (const key of KEYS) {
          const present = n.view.hasMember(topic, key) ? 1 : 0;
          assert.equal(n.memberBalance(topic, key), present, `seed ${seed}: ${n.id} balance of ${key} in ${topic}`);
        }
        const occ = n.count('occupied', topic) - n.count('vacated', topic);
        assert.equal(occ, n.view.subscriptionCount(topic) > 0 ? 1 : 0, `seed ${seed}: ${n.id} occupancy of ${topic}`);
        const counts = n.announced.filter((t) => t.kind === 'count' && t.topic === topic);
        const last = counts.at(-1);
        assert.equal(last?.kind === 'count' ? last.count : 0, n.view.subscriptionCount(topic));
      }
    }
  }

  it('random ops and delivery on 3 replicas converge with balanced transitions (200 seeds)', () => {
    for (let seed = 1; seed <= 200; seed++) run(seed);
  });
});
