/**
 * The publishing side of channel history between nodes, over a fake cluster: what a node sends an
 * owner is kept until acknowledged and sent again to the next owner when that one dies, which
 * skips what the dead owner's copy shows was published already; a node handing over passes on
 * what it is sent, once; a node that has left refuses publishes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppConfig } from '../config/schema.js';
import { testConfig } from '../core/fakes.test.helper.js';
import type { ChannelStreams } from '../core/streams.js';
import { createLogger } from '../log/logger.js';
import { channelEvent } from '../protocol/frames.js';
import { HistoryChannels } from './channels.js';
import { positionOfFrame } from './position.js';
import { Replication } from './replication.js';
import type { Resumer } from './resumer.js';
import { Sequencer } from './sequencer.js';
import { HistoryStreams, NodeLeftError } from './streams.js';
import type { HistoryPeers } from './types.js';
import type { HistoryMessage } from './wire.js';

const TOPIC = 'app-id\u0000orders';
const logger = createLogger({ level: 'error', sink: () => {} });
const config = testConfig({ history: { channels: ['orders'] } });
const app = config.apps[0] as AppConfig;
const event = (n: number): string => channelEvent('n', 'orders', String(n));

class World {
  ranking = ['o', 's', 'a'];
  readonly inbox: Array<{ to: string; from: string; msg: HistoryMessage }> = [];
  take(to: string): Array<{ from: string; msg: HistoryMessage }> {
    const mine = this.inbox.filter((m) => m.to === to);
    for (const m of mine) this.inbox.splice(this.inbox.indexOf(m), 1);
    return mine;
  }
}

function node(world: World, nodeId: string) {
  const peers: HistoryPeers = {
    nodeId,
    ownerOf: () => world.ranking[0] as string,
    nextOf: () => world.ranking[1],
    replicates: () => true,
    wasOwner: () => false,
    send: (to, msg) => void world.inbox.push({ to, from: nodeId, msg }),
    mark: () => {},
  };
  const channels = new HistoryChannels(config.apps);
  const sequencer = new Sequencer({ channels });
  const replication = new Replication({ store: sequencer.store, peers, logger });
  const published: string[] = [];
  const direct: ChannelStreams = {
    publish: (_app, _topic, frame) => void published.push(frame),
    resume: () => false,
    cancel: () => {},
    waiting: () => 0,
  };
  const resumer = { resume: () => false, cancel: () => {}, waiting: () => 0 } as unknown as Resumer;
  const streams = new HistoryStreams({ channels, sequencer, resumer, direct, peers, replication });
  /** Hands this node what was sent to it, as HistoryReceiver would (without the acks). */
  const receive = (): void => {
    for (const { from, msg } of world.take(nodeId)) {
      if (msg.kind === 'seq') {
        const pid = msg.id === undefined ? undefined : `${from}:${msg.id}`;
        void streams.received(app.id, msg.topic, msg.frame, msg.except, msg.passed === true, pid, msg.retry === true);
      } else if (msg.kind === 'rep') replication.received(from, app.id, msg);
    }
  };
  return { streams, published, receive, serials: () => published.map((f) => positionOfFrame(f)!.serial) };
}

test('what a dead owner did not acknowledge goes to the next owner, which skips what its copy has', () => {
  const w = new World();
  const a = node(w, 'a');
  const o = node(w, 'o');
  const s = node(w, 's');
  void a.streams.publish(app.id, TOPIC, event(1));
  void a.streams.publish(app.id, TOPIC, event(2));
  const sent = w.inbox.filter((m) => m.to === 'o');
  assert.deepEqual(
    sent.map((m) => m.msg.kind === 'seq' && m.msg.id),
    [1, 2],
  );
  // o sequences the first (and copies it to s), then dies with the second unread.
  w.inbox.splice(w.inbox.indexOf(sent[1]!), 1);
  o.receive();
  s.receive();
  assert.deepEqual(o.serials(), [1]);

  w.ranking = ['s', 'a'];
  assert.deepEqual(
    a.streams.ownerDown('o', (err) => assert.fail(String(err))),
    { resent: 2, dropped: 0 },
  );
  const retries = w.inbox.filter((m) => m.to === 's').map((m) => m.msg);
  assert.deepEqual(
    retries.map((m) => m.kind === 'seq' && [m.id, m.retry]),
    [
      [1, true],
      [2, true],
    ],
  );
  s.receive();
  assert.deepEqual(s.serials(), [2], 'the first was published by o already: only the second, next in the same epoch');
  assert.equal(positionOfFrame(s.published[0]!)!.epoch, positionOfFrame(o.published[0]!)!.epoch);

  a.streams.acked('s', 2);
  assert.deepEqual(
    a.streams.ownerDown('s', () => {}),
    { resent: 0, dropped: 0 },
    'acknowledged: nothing to send again',
  );
});

test('a node handing over passes on what it is sent, once; after it has left it refuses publishes', async () => {
  const w = new World();
  w.ranking = ['o', 's', 'a'];
  const o = node(w, 'o');
  void o.streams.publish(app.id, TOPIC, event(1));
  o.streams.handOver();
  void o.streams.publish(app.id, TOPIC, event(2));
  void o.streams.received(app.id, TOPIC, event(3), undefined, false);
  void o.streams.received(app.id, TOPIC, event(4), undefined, true);
  const toS = w.inbox.filter((m) => m.to === 's').map((m) => m.msg);
  assert.deepEqual(
    toS.map((m) => m.kind),
    ['rep', 'seq', 'seq', 'rep'],
    'the copy first, then what came in, then the copy of the one sequenced here',
  );
  assert.equal(o.published.length, 2, 'the one passed on already is sequenced here, not passed on again');
  o.streams.detached();
  await assert.rejects(async () => o.streams.publish(app.id, TOPIC, event(5)), NodeLeftError);
});
