/**
 * user_online / user_offline over three nodes on the memory bus: a user's first presence channel
 * anywhere sends one user_online for the whole cluster, their last one left sends one
 * user_offline, whichever node each socket is on, and a node that dies takes its users offline.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connected, pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { webhookReceiver, type WebhookReceiver } from './helpers/api-webhooks.js';
import { testApp } from './helpers/server.js';

let cluster: TestCluster;
let rx: WebhookReceiver;
const clients: PusherClient[] = [];

before(async () => {
  rx = await webhookReceiver(serverSdk(0));
  cluster = await startTestCluster(3, {
    webhooks: { batchMs: 0 },
    apps: [testApp({ webhooks: [{ url: rx.url('/users'), events: ['user_online', 'user_offline'] }] })],
  });
});

after(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.close();
  await rx?.close();
});

async function member(node: number, user: string, channel: string): Promise<PusherClient> {
  const c = pusherClient(cluster.nodes[node]!.port, { presence: () => ({ user_id: user }) });
  clients.push(c);
  await connected(c);
  c.subscribe(channel);
  await until(() => c.channel(channel)?.subscribed === true, `${user} in ${channel}`);
  return c;
}

const userEvents = (): string[] => rx.events('/users').map((e) => `${e.name} ${String(e.user_id)}`);

test('one user_online for the first presence channel anywhere, one user_offline for the last', async () => {
  const a0 = await member(0, 'alice', 'presence-a');
  await until(() => userEvents().length === 1, 'user_online');
  const a1 = await member(1, 'alice', 'presence-b');
  const a2 = await member(2, 'alice', 'presence-a');
  await sleep(500); // several heartbeats: every node has merged every join
  assert.deepEqual(userEvents(), ['user_online alice']);

  a0.disconnect();
  a1.disconnect();
  await sleep(500);
  assert.deepEqual(userEvents(), ['user_online alice'], 'alice is still in presence-a on node 2');
  a2.disconnect();
  await until(() => userEvents().length === 2, 'user_offline');
  await sleep(300);
  assert.deepEqual(userEvents(), ['user_online alice', 'user_offline alice']);
  for (const hook of rx.on('/users')) assert.equal(hook.valid, true);
});

test('a node that dies takes its users offline, once', async () => {
  const before = userEvents().length;
  await member(2, 'bob', 'presence-c');
  await until(() => userEvents().length === before + 1, 'bob online');
  await cluster.nodes[2]!.server.stop('crash');
  await until(() => userEvents().length === before + 2, 'bob offline after node 2 died', 5_000);
  await sleep(300);
  assert.deepEqual(userEvents().slice(before), ['user_online bob', 'user_offline bob']);
});
