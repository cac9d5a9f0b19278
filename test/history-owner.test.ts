/**
 * The node that keeps a channel's history dies while the channel is quiet: its clients elsewhere
 * must be told at once (events sent to it before it was noticed are lost), not only when, and if,
 * the next event shows them a new epoch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Membership } from '../src/cluster/membership.js';
import { serverSdk, sleep, until } from './helpers/clients.js';
import { startTestCluster, FAST_CLUSTER, type TestCluster } from './helpers/cluster.js';
import { testApp } from './helpers/server.js';
import { HISTORY_APP } from './history/suite.js';
import { StreamClient } from './history/stream-client.js';

let c: TestCluster;
const clients: StreamClient[] = [];
before(async () => {
  c = await startTestCluster(3, { apps: [testApp(HISTORY_APP)], logLevel: 'warn' });
  await sleep(300);
});
after(async () => {
  for (const cl of clients) await cl.close();
  await c.close();
});

test("a quiet channel whose history node dies: its clients get wiremesh:gap 'reset', then live events in the new stream", async () => {
  // A channel node 2 owns (the nodes' own rendezvous choice, computed from their ids).
  const view = new Membership(c.nodes[0]!.server.nodeId, { nodeTimeoutMs: 1_000, forgetAfterMs: 60_000 });
  for (const n of c.nodes.slice(1)) view.heartbeat(n.server.nodeId, {});
  let k = 0;
  let channel = `hist-quiet-${k}`;
  while (view.owner(`app-id\u0000${channel}`) !== c.nodes[2]!.server.nodeId) channel = `hist-quiet-${++k}`;

  const cl = await StreamClient.start(c.nodes[0]!.port);
  clients.push(cl);
  cl.subscribe(channel);
  await cl.subscribed();
  await serverSdk(c.nodes[1]!.port).trigger(channel, 'n', { n: 1 });
  await until(() => cl.got.get(channel)!.length === 1, 'the first event');

  await c.nodes[2]!.server.stop('crash');
  await until(() => cl.gaps.get(channel)!.length > 0, 'the gap event', FAST_CLUSTER.nodeTimeoutMs * 4);
  assert.deepEqual(cl.gaps.get(channel), ['reset']);

  // Node 1 notices on its own heartbeat sweep (up to a period later); until then it still sends to node 2.
  await sleep(FAST_CLUSTER.nodeTimeoutMs);
  await serverSdk(c.nodes[1]!.port).trigger(channel, 'n', { n: 2 });
  await until(() => cl.got.get(channel)!.length === 2, 'a live event from the new stream');
  await sleep(100);
  assert.deepEqual(cl.gaps.get(channel), ['reset'], 'told once: the new stream is not a second gap');
  assert.match(cl.resume.position(channel) ?? '', /:1$/, 'the position is in the new stream');
});
