/**
 * Presence replication between presence services, over a synchronous in-memory "network" with a
 * real Membership and a fake cluster node (its heartbeat built as cluster/node.ts builds it):
 * deltas, gaps repaired by snapshots, catch-up of a newcomer, down and forgotten nodes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControlFields, ControlMessage } from '../cluster/envelope.js';
import { Membership } from '../cluster/membership.js';
import { Refusals } from '../limits/refusals.js';
import { silentLogger } from '../log/logger.js';
import { PresenceReplication, SNAPSHOT_RETRY_MS } from './cluster.js';
import { PresenceService } from './service.js';
import type { Delta } from './state.js';
import type { Transition } from './view.js';

interface Node {
  id: string;
  presence: PresenceService;
  replication: PresenceReplication;
  membership: Membership;
  transitions: Transition[];
  /** Sends a heartbeat now, as the node's timer would. */
  beat(): void;
}

type Hb = ControlMessage & { clock: number; delta: Delta | null; conns: Record<string, number> };

/** Nodes whose messages are queued and delivered on `flush()`, with an optional filter (drops). */
function network() {
  const nodes = new Map<string, Node>();
  const queue: Array<{ msg: ControlMessage; to?: string }> = [];
  let drop: (msg: ControlMessage, to: string) => boolean = () => false;
  const sent: ControlMessage[] = [];
  let now = 1_000;
  const deliver = (node: Node, msg: ControlMessage): void => {
    const r = node.replication;
    if (msg.type === 'hb') r.heard(msg, node.membership.heartbeat(msg.from, msg.conns as Record<string, number>));
    else r.messages[msg.type as 'snap' | 'snap_req'](msg);
  };
  return {
    nodes,
    sent,
    add(id: string): Node {
      const transitions: Transition[] = [];
      const membership = new Membership(id, { nodeTimeoutMs: 1_000, forgetAfterMs: 10_000 });
      const send = (type: string, fields: ControlFields, to?: string): void => {
        const msg: ControlMessage = { v: 1, type, from: id, ...fields };
        sent.push(msg);
        queue.push(to === undefined ? { msg } : { msg, to });
      };
      const presence = new PresenceService(
        id,
        { apply: (t) => transitions.push(...t) },
        {
          heartbeat: { beatSoon() {} }, // the tests send explicitly
          maxEntriesPerNode: 0,
          refusals: new Refusals({ logger: silentLogger, counter: { inc() {} } }),
        },
      );
      const replication = new PresenceReplication({ node: { send, membership }, store: presence, now: () => now });
      const beat = (): void => send('hb', { conns: { app: 1 }, ...replication.heartbeat() });
      const node = { id, presence, replication, membership, transitions, beat };
      nodes.set(id, node);
      return node;
    },
    advance(ms: number) {
      now += ms;
    },
    setDrop(f: typeof drop) {
      drop = f;
    },
    flush(): void {
      while (queue.length > 0) {
        const { msg, to } = queue.shift()!;
        for (const n of nodes.values()) {
          if (n.id === msg.from || (to !== undefined && n.id !== to) || drop(msg, n.id)) continue;
          deliver(n, msg);
        }
      }
    },
    stop(): void {},
  };
}

const members = (n: Node, topic: string) => [...n.presence.view.members(topic).keys()].sort();
const T = 'app\u0000presence-room';

test('a local join reaches the other node with its heartbeat, and the other node derives member_added', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  const b = net.add('b');
  a.beat();
  b.beat();
  net.flush();
  a.presence.join(T, 'u1', 's1', { name: 'Ann' });
  assert.deepEqual(
    a.transitions.map((x) => x.kind),
    ['occupied', 'member_added', 'count'],
  );
  a.beat();
  net.flush();
  assert.deepEqual(members(b, T), ['u1']);
  assert.deepEqual(
    b.transitions.map((x) => x.kind),
    ['occupied', 'member_added', 'count'],
  );
  assert.deepEqual(b.presence.view.members(T).get('u1'), { name: 'Ann' });
  a.presence.leave(T, 's1');
  a.beat();
  net.flush();
  assert.deepEqual(members(b, T), []);
  assert.deepEqual(
    b.transitions.slice(3).map((x) => x.kind),
    ['member_removed', 'vacated', 'count'],
  );
});

test('a lost delta is repaired by one snapshot request (rate-limited), and nothing is announced twice', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  const b = net.add('b');
  a.beat();
  net.flush();
  net.setDrop((msg) => msg.type === 'hb' && msg.delta !== null);
  a.presence.join(T, 'u1', 's1', null);
  a.beat(); // lost
  net.flush();
  net.setDrop(() => false);
  a.presence.join(T, 'u2', 's2', null);
  a.beat(); // arrives with a gap
  net.flush();
  const requests = net.sent.filter((m) => m.type === 'snap_req');
  assert.equal(requests.length, 1);
  assert.deepEqual(members(b, T), ['u1', 'u2']);
  const added = b.transitions.filter((x) => x.kind === 'member_added').map((x) => (x as { key: string }).key);
  assert.deepEqual(added.sort(), ['u1', 'u2']);
  // While a request is unanswered (its snapshot lost), further gaps do not repeat it within the retry period.
  net.setDrop((msg) => (msg.type === 'hb' && msg.delta !== null) || msg.type === 'snap');
  for (const [u, s] of [
    ['u3', 's3'],
    ['u4', 's4'],
    ['u5', 's5'],
  ] as const) {
    a.presence.join(T, u, s, null);
    a.beat();
    net.flush();
    net.setDrop((msg) => msg.type === 'snap');
  }
  assert.equal(net.sent.filter((m) => m.type === 'snap_req').length, 2);
  net.advance(SNAPSHOT_RETRY_MS);
  net.setDrop(() => false);
  a.presence.join(T, 'u6', 's6', null);
  a.beat();
  net.flush();
  assert.equal(net.sent.filter((m) => m.type === 'snap_req').length, 3, 'asked again after the retry period');
  assert.deepEqual(members(b, T), ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
});

test('a newcomer catches up: it is behind until the snapshot arrives, then holds the entries', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  a.presence.join(T, 'u1', 's1', null);
  a.beat(); // nobody listens yet
  net.flush();
  const b = net.add('b');
  net.setDrop((msg) => msg.type === 'snap_req');
  a.beat(); // an empty heartbeat whose clock is ahead of b's
  net.flush();
  assert.deepEqual(b.replication.behind(), ['a']);
  net.setDrop(() => false);
  a.beat();
  net.flush();
  assert.deepEqual(b.replication.behind(), ['a'], 'no second request within the retry period');
  net.advance(SNAPSHOT_RETRY_MS);
  a.beat();
  net.flush();
  assert.deepEqual(b.replication.behind(), []);
  assert.deepEqual(members(b, T), ['u1']);
});

test('a node down hides its members (member_removed), back brings them again, forgotten drops them', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  const b = net.add('b');
  a.presence.join(T, 'u1', 's1', null);
  a.beat();
  b.beat();
  net.flush();
  assert.deepEqual(members(b, T), ['u1']);
  const rb = b.replication;
  rb.nodeDown('a');
  assert.deepEqual(members(b, T), []);
  assert.ok(b.transitions.some((x) => x.kind === 'member_removed'));
  b.membership.sweep(); // (membership's own state is tested on its own)
  rb.heard({ v: 1, type: 'hb', from: 'a', clock: a.presence.clockOf('a'), delta: null, conns: {} }, 'up');
  assert.deepEqual(members(b, T), ['u1']);
  rb.nodeForgotten('a');
  assert.deepEqual(members(b, T), []);
});

test('a heartbeat carries the own clock and the local connection counts', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  a.presence.join(T, 'u1', 's1', null);
  a.beat();
  const hb = net.sent.find((m) => m.type === 'hb') as Hb | undefined;
  assert.ok(hb);
  assert.equal(hb.clock, 1);
  assert.deepEqual(hb.conns, { app: 1 });
  assert.equal(hb.delta?.ops.length, 1);
});
