/**
 * Stream copies between two nodes' stores, over a fake cluster that delivers `rep` messages by
 * hand: the owner's first copy is whole, then one event at a time; the next node continues the
 * same epoch once it owns the channel; a copy that missed events starts at a hole; a copy kept by
 * a node no longer next is dropped; a stopping owner hands over what the next node lacks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppConfig } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { channelEvent } from '../protocol/frames.js';
import { testConfig } from '../core/fakes.test.helper.js';
import { HistoryChannels } from './channels.js';
import { formatPosition, parsePosition, positionOfFrame } from './position.js';
import { Replication } from './replication.js';
import { Sequencer } from './sequencer.js';
import type { HistoryPeers } from './types.js';
import type { HistoryMessage } from './wire.js';

const TOPIC = 'app-id\u0000orders';
const logger = createLogger({ level: 'error', sink: () => {} });

/** Two or three nodes' views: a shared ranking, each with its own id. */
class World {
  ranking = ['a', 'b', 'c'];
  replicating = new Set(['a', 'b', 'c']);
  readonly inbox: Array<{ to: string; from: string; msg: HistoryMessage }> = [];
  peers(nodeId: string): HistoryPeers {
    return {
      nodeId,
      ownerOf: () => this.ranking[0] as string,
      nextOf: () => this.ranking[1],
      replicates: (n) => this.replicating.has(n),
      wasOwner: () => false,
      send: (to, msg) => void this.inbox.push({ to, from: nodeId, msg }),
      mark: () => {},
    };
  }
}

function node(world: World, nodeId: string) {
  const config = testConfig({ history: { channels: ['orders'], maxEvents: 5 } });
  const app = config.apps[0] as AppConfig;
  const sequencer = new Sequencer({ channels: new HistoryChannels(config.apps) });
  const replication = new Replication({ store: sequencer.store, peers: world.peers(nodeId), logger });
  const publish = (n: number): string => {
    const frame = sequencer.sequence(app.id, TOPIC, channelEvent('n', 'orders', String(n)));
    replication.sequenced(TOPIC, sequencer.store.get(app.id, TOPIC)!, frame);
    return frame;
  };
  return { app, sequencer, replication, publish, stream: () => sequencer.store.get(app.id, TOPIC) };
}

/** Delivers every message sent to `to` (and drops the others' from the inbox). */
function deliver(world: World, to: ReturnType<typeof node>, toId: string): Array<HistoryMessage> {
  const mine = world.inbox.filter((m) => m.to === toId);
  world.inbox.splice(0);
  for (const m of mine) if (m.msg.kind === 'rep') to.replication.received(m.from, to.app.id, m.msg);
  return mine.map((m) => m.msg);
}

test('the first copy is the whole stream, then one event each; the next node continues the epoch', () => {
  const w = new World();
  const a = node(w, 'a');
  const b = node(w, 'b');
  a.publish(1);
  a.publish(2);
  w.inbox.splice(0); // lost: b was not there yet (a heartbeat said so later)
  a.stream()!.replicaAt = undefined;
  a.publish(3);
  const first = deliver(w, b, 'b');
  assert.deepEqual(
    first.map((m) => m.kind === 'rep' && [m.snap, m.frames.length]),
    [[true, 3]],
  );
  a.publish(4);
  const next = deliver(w, b, 'b');
  assert.deepEqual(
    next.map((m) => m.kind === 'rep' && [m.snap, m.frames.length]),
    [[false, 1]],
  );
  assert.equal(b.stream()!.epoch, a.stream()!.epoch);
  assert.deepEqual(b.stream()!.snapshot(), a.stream()!.snapshot());

  // a dies: b owns the channel and sequences on in the same epoch.
  w.ranking = ['b', 'c'];
  b.replication.membershipChanged();
  const five = positionOfFrame(b.publish(5))!;
  assert.equal(five.epoch, a.stream()!.epoch);
  assert.equal(five.serial, 5);
  const since = b.stream()!.since(parsePosition(`${five.epoch}:2`)!, Date.now());
  assert.equal(since.status, 'ok');
  assert.equal(since.status === 'ok' && since.frames.length, 3, 'a resume from before the crash is served in full');
});

test('a copy that missed events starts at a hole: a resume across it is told the events are gone', () => {
  const w = new World();
  const a = node(w, 'a');
  const b = node(w, 'b');
  a.publish(1);
  deliver(w, b, 'b');
  a.publish(2);
  w.inbox.splice(0); // lost on the way
  a.publish(3);
  deliver(w, b, 'b');
  const epoch = a.stream()!.epoch;
  const gap = b.stream()!.since({ epoch, serial: 1 }, Date.now());
  assert.deepEqual(gap.status === 'gap' && gap.reason, 'too_old');
  const ok = b.stream()!.since({ epoch, serial: 2 }, Date.now());
  assert.equal(ok.status === 'ok' && ok.frames.length, 1);
});

test('a copy kept by a node that is no longer next is dropped; a stopping owner hands over what the next lacks', () => {
  const w = new World();
  const a = node(w, 'a');
  const b = node(w, 'b');
  const c = node(w, 'c');
  a.publish(1);
  deliver(w, b, 'b');
  w.ranking = ['a', 'c', 'b']; // c joined between them
  b.replication.membershipChanged();
  assert.equal(b.stream(), undefined, 'b would miss what a sends c from now on');
  assert.equal(a.replication.handOver(), 1);
  deliver(w, c, 'c');
  assert.equal(c.stream()!.epoch, a.stream()!.epoch);
  assert.equal(formatPosition(c.stream()!.head), formatPosition(a.stream()!.head));
  assert.equal(a.replication.handOver(), 0, 'c has it now');
});

test('a node that comes back and outranks the owner gets the whole stream, unless it started its own', () => {
  const w = new World();
  w.ranking = ['b', 'c'];
  const b = node(w, 'b');
  const a = node(w, 'a');
  b.publish(1);
  b.publish(2);
  w.inbox.splice(0);
  w.ranking = ['a', 'b', 'c']; // a is back
  b.replication.membershipChanged();
  deliver(w, a, 'a');
  assert.equal(a.stream()!.epoch, b.stream()!.epoch, 'a continues b’s epoch');
  assert.equal(positionOfFrame(a.publish(3))!.serial, 3);

  const w2 = new World();
  w2.ranking = ['b', 'c'];
  const b2 = node(w2, 'b');
  const a2 = node(w2, 'a');
  b2.publish(1);
  w2.ranking = ['a', 'b', 'c'];
  a2.publish(1); // a started before the hand-over arrived
  w2.inbox.splice(0);
  b2.replication.membershipChanged();
  const own = a2.stream()!.epoch;
  deliver(w2, a2, 'a');
  assert.equal(a2.stream()!.epoch, own, 'an owner keeps the stream it sequences');
});
