/**
 * The replicator between presence services, over a synchronous in-memory "network" with a real
 * Membership: deltas, gaps repaired by snapshots, catch-up of a newcomer, down and forgotten nodes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControlMessage } from '../cluster/envelope.js';
import { Membership } from '../cluster/membership.js';
import { Refusals } from '../limits/refusals.js';
import { silentLogger } from '../log/logger.js';
import { SNAPSHOT_RETRY_MS } from './replicator.js';
import { PresenceService } from './service.js';
import type { Transition } from './view.js';

interface Node {
  id: string;
  presence: PresenceService;
  membership: Membership;
  transitions: Transition[];
}

/** Nodes whose messages are queued and delivered on `flush()`, with an optional filter (drops). */
function network() {
  const nodes = new Map<string, Node>();
  const queue: Array<{ msg: ControlMessage; to?: string }> = [];
  let drop: (msg: ControlMessage, to: string) => boolean = () => false;
  const sent: ControlMessage[] = [];
  let now = 1_000;
  const deliver = (node: Node, msg: ControlMessage): void => {
    const r = node.presence.replicator!;
    switch (msg.type) {
      case 'hb':
        r.heartbeat(msg, node.membership.heartbeat(msg.from, msg.conns, msg.clock));
        return;
      case 'snap_req':
        r.snapshotRequested(msg);
        return;
      case 'snap':
        r.snapshotReceived(msg);
        return;
      default:
        return;
    }
  };
  return {
    nodes,
    sent,
    add(id: string): Node {
      const transitions: Transition[] = [];
      const membership = new Membership(id, { nodeTimeoutMs: 1_000, forgetAfterMs: 10_000 });
      const presence = new PresenceService(
        id,
        { apply: (t) => transitions.push(...t) },
        {
          send: (msg, to) => {
            sent.push(msg);
            queue.push(to === undefined ? { msg } : { msg, to });
          },
          membership,
          connections: () => ({ app: 1 }),
          maxEntriesPerNode: 0,
          refusals: new Refusals({ logger: silentLogger, counter: { inc() {} } }),
          deltaDelayMs: 60_000, // the tests send explicitly
          logger: silentLogger,
          now: () => now,
        },
      );
      const node = { id, presence, membership, transitions };
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
    stop(): void {
      for (const n of nodes.values()) n.presence.replicator!.stop();
    },
  };
}

const members = (n: Node, topic: string) => [...n.presence.view.members(topic).keys()].sort();
const T = 'app\u0000presence-room';

test('a local join reaches the other node with its heartbeat, and the other node derives member_added', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  const b = net.add('b');
  a.presence.replicator!.beat();
  b.presence.replicator!.beat();
  net.flush();
  a.presence.join(T, 'u1', 's1', { name: 'Ann' });
  assert.deepEqual(
    a.transitions.map((x) => x.kind),
    ['occupied', 'member_added', 'count'],
  );
  a.presence.replicator!.beat();
  net.flush();
  assert.deepEqual(members(b, T), ['u1']);
  assert.deepEqual(
    b.transitions.map((x) => x.kind),
    ['occupied', 'member_added', 'count'],
  );
  assert.deepEqual(b.presence.view.members(T).get('u1'), { name: 'Ann' });
  a.presence.leave(T, 's1');
  a.presence.replicator!.beat();
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
  a.presence.replicator!.beat();
  net.flush();
  net.setDrop((msg) => msg.type === 'hb' && msg.delta !== null);
  a.presence.join(T, 'u1', 's1', null);
  a.presence.replicator!.beat(); // lost
  net.flush();
  net.setDrop(() => false);
  a.presence.join(T, 'u2', 's2', null);
  a.presence.replicator!.beat(); // arrives with a gap
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
    a.presence.replicator!.beat();
    net.flush();
    net.setDrop((msg) => msg.type === 'snap');
  }
  assert.equal(net.sent.filter((m) => m.type === 'snap_req').length, 2);
  net.advance(SNAPSHOT_RETRY_MS);
  net.setDrop(() => false);
  a.presence.join(T, 'u6', 's6', null);
  a.presence.replicator!.beat();
  net.flush();
  assert.equal(net.sent.filter((m) => m.type === 'snap_req').length, 3, 'asked again after the retry period');
  assert.deepEqual(members(b, T), ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
});

test('a newcomer catches up: it is behind until the snapshot arrives, then holds the entries', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  a.presence.join(T, 'u1', 's1', null);
  a.presence.replicator!.beat(); // nobody listens yet
  net.flush();
  const b = net.add('b');
  net.setDrop((msg) => msg.type === 'snap_req');
  a.presence.replicator!.beat(); // an empty heartbeat whose clock is ahead of b's
  net.flush();
  assert.deepEqual(b.presence.replicator!.behind(), ['a']);
  net.setDrop(() => false);
  a.presence.replicator!.beat();
  net.flush();
  assert.deepEqual(b.presence.replicator!.behind(), ['a'], 'no second request within the retry period');
  net.advance(SNAPSHOT_RETRY_MS);
  a.presence.replicator!.beat();
  net.flush();
  assert.deepEqual(b.presence.replicator!.behind(), []);
  assert.deepEqual(members(b, T), ['u1']);
});

test('a node down hides its members (member_removed), back brings them again, forgotten drops them', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  const b = net.add('b');
  a.presence.join(T, 'u1', 's1', null);
  a.presence.replicator!.beat();
  b.presence.replicator!.beat();
  net.flush();
  assert.deepEqual(members(b, T), ['u1']);
  const rb = b.presence.replicator!;
  rb.nodeDown('a');
  assert.deepEqual(members(b, T), []);
  assert.ok(b.transitions.some((x) => x.kind === 'member_removed'));
  b.membership.sweep(); // (membership's own state is tested on its own)
  rb.heartbeat({ v: 1, type: 'hb', from: 'a', clock: a.presence.clockOf('a'), delta: null, conns: {} }, 'up');
  assert.deepEqual(members(b, T), ['u1']);
  rb.nodeForgotten('a');
  assert.deepEqual(members(b, T), []);
});

test('a heartbeat carries the own clock and the local connection counts', (t) => {
  const net = network();
  t.after(() => net.stop());
  const a = net.add('a');
  a.presence.join(T, 'u1', 's1', null);
  a.presence.replicator!.beat();
  const hb = net.sent.find((m) => m.type === 'hb');
  assert.ok(hb && hb.type === 'hb');
  assert.equal(hb.clock, 1);
  assert.deepEqual(hb.conns, { app: 1 });
  assert.equal(hb.delta?.ops.length, 1);
});
