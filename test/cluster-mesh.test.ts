/**
 * The cluster suite over three `wiremesh start` processes meshed with each other (no broker),
 * then what stands in for the broker outage test: a node killed with SIGKILL and started again
 * on the same ports resynchronises with the others by itself.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterSuite } from './cluster/suite.js';
import { processCluster, type ProcessHarness } from './cluster/processes.js';
import { pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';

clusterSuite('mesh, three processes', processCluster('mesh'), {
  skipBrokerOutage: 'the mesh has no broker; see "a node killed and started again" below',
});

type Members = { count: number; each(f: (m: { id: string }) => void): void };
type PresenceChannel = { subscribed: boolean; members: Members };

function memberIds(ch: PresenceChannel): string[] {
  const ids: string[] = [];
  ch.members.each((m) => ids.push(m.id));
  return ids.sort();
}

describe('cluster: mesh, a node killed and started again on its ports', () => {
  let c: ProcessHarness;
  const clients: PusherClient[] = [];
  const client = (node: number, user?: string): PusherClient => {
    const cl = pusherClient(c.ports[node]!, user ? { presence: () => ({ user_id: user }) } : {});
    clients.push(cl);
    return cl;
  };

  before(async () => {
    // Webhooks go nowhere here (port 9, discard): this test is about the mesh.
    c = await processCluster('mesh')(3, 'http://127.0.0.1:9/hook');
  });
  after(async () => {
    for (const cl of clients) cl.disconnect();
    await c?.close();
  });

  test('it is left by its users, then rejoins: sees the others, is seen by them, carries events both ways', async () => {
    const channel = `presence-restart-${Date.now().toString(36)}`;
    const w0 = client(0, 'u0').subscribe(channel) as unknown as PresenceChannel;
    const w1 = client(1, 'u1').subscribe(channel) as unknown as PresenceChannel;
    const victim = client(2, 'victim');
    victim.subscribe(channel);
    await until(() => w0.members.count === 3 && w1.members.count === 3, 'all three seen');

    await c.kill(2);
    victim.disconnect(); // it would otherwise come back with the node
    await until(
      () => w0.members.count === 2 && w1.members.count === 2,
      'the victim to leave',
      c.nodeTimeoutMs * 3 + 2_000,
    );

    await c.restart(2);
    // It listens only once it has caught up with the others: its very first answers are the cluster's.
    const res = await serverSdk(c.ports[2]!).get({ path: `/channels/${channel}/users` });
    const users = ((await res.json()) as { users: Array<{ id: string }> }).users.map((u) => u.id).sort();
    assert.deepEqual(users, ['u0', 'u1']);
    const back = client(2, 'back').subscribe(channel) as unknown as PresenceChannel;
    await until(() => back.subscribed, 'subscribed on the restarted node', 10_000);
    assert.deepEqual(memberIds(back), ['back', 'u0', 'u1'], 'the member list of subscription_succeeded is complete');
    await until(() => w0.members.count === 3 && w1.members.count === 3, 'the others to see the new member');
    assert.deepEqual(memberIds(w0), ['back', 'u0', 'u1']);

    const news = `news-${Date.now().toString(36)}`;
    const got: Array<[number, number]> = [];
    const subs = [0, 2].map((node) => {
      const ch = client(node).subscribe(news);
      ch.bind('e', (d: { from: number }) => got.push([node, d.from]));
      return ch;
    });
    await until(() => subs.every((s) => s.subscribed), 'subscribed');
    await sleep(200);
    await serverSdk(c.ports[0]!).trigger(news, 'e', { from: 0 });
    await serverSdk(c.ports[2]!).trigger(news, 'e', { from: 2 });
    await until(() => got.length === 4, 'both events on both nodes');
    assert.deepEqual(got.sort(), [
      [0, 0],
      [0, 2],
      [2, 0],
      [2, 2],
    ]);
  });
});
