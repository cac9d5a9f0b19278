/**
 * The node that keeps a channel's history dies while the channel is quiet. Its copy on the next
 * node carries the stream on: clients elsewhere see no gap, and an event sent to the dead node
 * before anyone noticed is sent again to the next owner, not lost. Only when the next node dies
 * with it is the stream really lost: then its clients are told at once, not only when, and if,
 * the next event shows them a new epoch.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Membership } from '../src/cluster/membership.js';
import { serverSdk, sleep, until } from './helpers/clients.js';
import { startTestCluster, FAST_CLUSTER, type TestCluster } from './helpers/cluster.js';
import { testApp } from './helpers/server.js';
import { HISTORY_APP } from './history/suite.js';
import { StreamClient } from './history/stream-client.js';

const clusters: TestCluster[] = [];
const clients: StreamClient[] = [];
after(async () => {
  for (const cl of clients) await cl.close();
  for (const c of clusters) await c.close();
});

/** Three nodes, and a channel node 2 owns with node 1 next (the nodes' own rendezvous choice). */
async function setup(): Promise<{ c: TestCluster; channel: string; cl: StreamClient }> {
  const c = await startTestCluster(3, { apps: [testApp(HISTORY_APP)], logLevel: 'warn' });
  clusters.push(c);
  await sleep(300);
  const ids = c.nodes.map((n) => n.server.nodeId);
  const among = (nodes: string[]): Membership => {
    const m = new Membership(nodes[0]!, { nodeTimeoutMs: 1_000, forgetAfterMs: 60_000 });
    for (const n of nodes.slice(1)) m.heartbeat(n, {});
    return m;
  };
  const all = among(ids);
  const without2 = among([ids[0]!, ids[1]!]);
  let k = 0;
  let channel = `hist-quiet-${k}`;
  const topic = (ch: string): string => `app-id\u0000${ch}`;
  while (all.owner(topic(channel)) !== ids[2] || without2.owner(topic(channel)) !== ids[1])
    channel = `hist-quiet-${++k}`;
  const cl = await StreamClient.start(c.nodes[0]!.port);
  clients.push(cl);
  cl.subscribe(channel);
  await cl.subscribed();
  await serverSdk(c.nodes[1]!.port).trigger(channel, 'n', { n: 1 });
  await until(() => cl.got.get(channel)!.length === 1, 'the first event');
  await sleep(50);
  return { c, channel, cl };
}

test('a quiet channel whose history node dies: the next node carries its stream on, and what was sent to the dead node meanwhile arrives', async () => {
  const { c, channel, cl } = await setup();
  const epoch = cl.resume.position(channel)!.split(':')[0];
  await c.nodes[2]!.server.stop('crash');
  // Node 1 has not noticed yet (no closed connection on the memory bus: only silence tells): the
  // event goes to the dead node, unacknowledged, and again to the next owner once it is noticed.
  await serverSdk(c.nodes[1]!.port).trigger(channel, 'n', { n: 2 });
  await until(
    () => cl.got.get(channel)!.length === 2,
    'the event sent to the dead node',
    FAST_CLUSTER.nodeTimeoutMs * 4,
  );
  await serverSdk(c.nodes[0]!.port).trigger(channel, 'n', { n: 3 });
  await until(() => cl.got.get(channel)!.length === 3, 'a live event after');
  await sleep(100);
  assert.deepEqual(cl.got.get(channel), [1, 2, 3]);
  assert.deepEqual(cl.gaps.get(channel), [], 'no gap: the stream went on');
  assert.equal(cl.resume.position(channel), `${epoch}:3`, 'in the same epoch');
});

test("a quiet channel whose history node and next node die together: its clients get wiremesh:gap 'reset', then live events in the new stream", async () => {
  const { c, channel, cl } = await setup();
  await c.nodes[2]!.server.stop('crash');
  await c.nodes[1]!.server.stop('crash');
  await until(() => cl.gaps.get(channel)!.length > 0, 'the gap event', FAST_CLUSTER.nodeTimeoutMs * 4);
  assert.deepEqual(cl.gaps.get(channel), ['reset']);
  await serverSdk(c.nodes[0]!.port).trigger(channel, 'n', { n: 2 });
  await until(() => cl.got.get(channel)!.length === 2, 'a live event from the new stream');
  await sleep(100);
  assert.deepEqual(cl.gaps.get(channel), ['reset'], 'told once: the new stream is not a second gap');
  assert.match(cl.resume.position(channel) ?? '', /:1$/, 'the position is in the new stream');
});
