import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Membership } from './membership.js';

function clock(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const OPTS = { nodeTimeoutMs: 1_000, forgetAfterMs: 5_000 };

test('a first heartbeat is new, later ones are not; the node is live and its connections count', () => {
  const c = clock();
  const m = new Membership('a', OPTS, c.now);
  assert.equal(m.heartbeat('b', { app1: 3 }), 'new');
  assert.equal(m.heartbeat('b', { app1: 4 }), null);
  assert.deepEqual(
    m.live().map((n) => n.nodeId),
    ['b'],
  );
  assert.equal(m.known('b'), true);
  assert.equal(m.known('c'), false);
  assert.equal(m.remoteConnections('app1'), 4);
  assert.equal(m.remoteConnections('app2'), 0);
});

test('silence beyond the node timeout marks a node down once; a heartbeat brings it back up', () => {
  const c = clock();
  const m = new Membership('a', OPTS, c.now);
  m.heartbeat('b', { app1: 2 });
  c.advance(1_000);
  assert.deepEqual(m.sweep(), { wentDown: [], forget: [] }, 'exactly the timeout is not yet down');
  c.advance(1);
  assert.deepEqual(m.sweep(), { wentDown: ['b'], forget: [] });
  assert.deepEqual(m.sweep(), { wentDown: [], forget: [] }, 'reported once');
  assert.equal(m.live().length, 0);
  assert.equal(m.remoteConnections('app1'), 0, 'a down node counts no connections');
  assert.equal(m.heartbeat('b', { app1: 2 }), 'up');
  assert.equal(m.live().length, 1);
});

test('a node down for longer than the forget period is forgotten', () => {
  const c = clock();
  const m = new Membership('a', OPTS, c.now);
  m.heartbeat('b', {});
  c.advance(1_001);
  m.sweep();
  c.advance(5_000);
  assert.deepEqual(m.sweep().forget, []);
  c.advance(1);
  assert.deepEqual(m.sweep(), { wentDown: [], forget: ['b'] });
  assert.equal(m.known('b'), false);
  assert.equal(m.heartbeat('b', {}), 'new', 'it comes back as a new node');
});

test('a leaving node is not live, is not blamed for silence, and is forgotten when its hand-off ends', () => {
  const c = clock();
  const m = new Membership('a', OPTS, c.now);
  m.heartbeat('b', { app1: 5 });
  m.leaving('b', 3_000);
  assert.equal(m.live().length, 0);
  assert.equal(m.remoteConnections('app1'), 0);
  assert.equal(m.heartbeat('b', { app1: 5 }), null, 'a late heartbeat does not revive it');
  c.advance(2_000);
  assert.deepEqual(m.sweep(), { wentDown: [], forget: [] }, 'silent past the node timeout, yet not down');
  c.advance(1_000);
  assert.deepEqual(m.sweep(), { wentDown: [], forget: ['b'] });
});

test('forgive(ms): a pause of our own is not counted as silence, and never beyond now', () => {
  const c = clock();
  const m = new Membership('a', OPTS, c.now);
  m.heartbeat('b', {});
  m.heartbeat('c', {});
  c.advance(1_200); // our event loop was blocked for 700 of these: b and c were heard of 500 ms ago
  m.heartbeat('c', {});
  m.forgive(700);
  assert.deepEqual(m.sweep().wentDown, [], 'b: 500 ms of silence we could hear');
  c.advance(501);
  assert.deepEqual(m.sweep().wentDown, ['b'], 'b: silent past the timeout once we listen again');
  c.advance(10);
  m.forgive(5_000);
  c.advance(1_000);
  assert.deepEqual(m.sweep().wentDown, [], 'c: forgiven up to now, not into the future');
  c.advance(1);
  assert.deepEqual(m.sweep().wentDown, ['c']);
});

test('forgive(): nobody is blamed for the time our own link was down', () => {
  const c = clock();
  const m = new Membership('a', OPTS, c.now);
  m.heartbeat('b', {});
  c.advance(900);
  m.forgive();
  c.advance(900);
  assert.deepEqual(m.sweep().wentDown, []);
  c.advance(101);
  assert.deepEqual(m.sweep().wentDown, ['b']);
});

test('topic ownership: exactly one live node owns each topic, and it moves when the owner goes down', () => {
  const c = clock();
  const nodes = ['a', 'b', 'c'].map((self) => new Membership(self, OPTS, c.now));
  for (const m of nodes) for (const other of ['a', 'b', 'c']) if (other !== m.nodeId) m.heartbeat(other, {});
  const topics = Array.from({ length: 200 }, (_, i) => `app\u0000chan-${i}`);
  const owners = new Set<string>();
  for (const t of topics) {
    const claim = nodes.filter((m) => m.ownsTopic(t)).map((m) => m.nodeId);
    assert.equal(claim.length, 1, `one owner for ${t}: ${claim.join(',')}`);
    owners.add(claim[0]!);
  }
  assert.equal(owners.size, 3, 'rendezvous hashing spreads topics over every node');
  // c goes silent: a and b agree on new owners for c's topics and keep their own.
  const [a, b] = nodes as [Membership, Membership, Membership];
  c.advance(500);
  a.heartbeat('b', {});
  b.heartbeat('a', {});
  c.advance(600);
  a.sweep();
  b.sweep();
  for (const t of topics)
    assert.equal(Number(a.ownsTopic(t)) + Number(b.ownsTopic(t)), 1, `one owner of ${t} after c went down`);
});

test('owners spread over the nodes even for channels whose names differ only at the end', () => {
  for (const run of ['a', 'b', 'c', 'd']) {
    const m = new Membership(`node0-${run}1f3e`, { nodeTimeoutMs: 1_000, forgetAfterMs: 60_000 }, () => 0);
    m.heartbeat(`node1-${run}77c2`, {});
    m.heartbeat(`node2-${run}0b9d`, {});
    const owners = new Map<string, number>();
    for (let k = 0; k < 60; k++) {
      const owner = m.owner(`app-id\u0000orders-${run}-${k}`);
      owners.set(owner, (owners.get(owner) ?? 0) + 1);
    }
    assert.equal(owners.size, 3, `run ${run}: every node owns some`);
    for (const [node, n] of owners) assert.ok(n >= 8, `run ${run}: ${node} owns ${n} of 60`);
  }
});

test('a node whose connection closed is down at once, reported by the caller; a leaving node keeps its hand-off', () => {
  const c = clock();
  const m = new Membership('a', OPTS, c.now);
  m.heartbeat('b', {});
  m.heartbeat('c', {});
  assert.equal(m.gone('b'), true);
  assert.equal(m.gone('b'), false, 'once');
  assert.deepEqual(m.sweep().wentDown, [], 'the sweep does not report it again');
  assert.deepEqual(
    m.live().map((n) => n.nodeId),
    ['c'],
  );
  m.leaving('c', 5_000);
  assert.equal(m.gone('c'), false);
  assert.equal(m.gone('x'), false, 'unknown');
  assert.equal(m.heartbeat('b', {}), 'up');
});

test('ranked: the owner first, then the node that owns a topic once the owner is gone', () => {
  const m = new Membership('a', OPTS);
  assert.deepEqual(m.ranked('t', 2), ['a'], 'alone');
  for (const n of ['b', 'c', 'd']) m.heartbeat(n, {});
  // The same cluster as b sees it with a gone.
  const withoutA = new Membership('b', OPTS);
  for (const n of ['c', 'd']) withoutA.heartbeat(n, {});
  let mine = 0;
  for (let i = 0; i < 60; i++) {
    const topic = `t-${i}`;
    const [first, second] = m.ranked(topic, 2);
    assert.equal(first, m.owner(topic), topic);
    if (first === 'a') {
      mine++;
      assert.equal(second, withoutA.owner(topic), 'the next owner once a is gone');
    }
  }
  assert.ok(mine > 0 && mine < 60);
});
