/**
 * A node whose event loop is blocked for longer than the node timeout (a long GC pause, a
 * CPU-starved machine) must not declare the other nodes down when it wakes up: their heartbeats
 * were waiting unread in its buffers. Both nodes run in this process, so one busy loop blocks both,
 * as it did in the Chromium tests where a presence flap showed up as a `reset` gap. A node that
 * really died is still found after such a pause.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connected, pusherClient, sleep, until, type PusherClient } from './helpers/clients.js';
import { FAST_CLUSTER, startTestCluster, type TestCluster } from './helpers/cluster.js';

const CHANNEL = 'presence-stall';
let cluster: TestCluster;
const clients: PusherClient[] = [];

before(async () => {
  cluster = await startTestCluster(2, { logLevel: 'warn' });
});

after(async () => {
  for (const c of clients) c.disconnect();
  await cluster.close();
});

/** A presence member on node `i`: the ids it saw leave, and the ids it sees now. */
async function member(i: number, userId: string): Promise<{ left: string[]; ids: () => string[] }> {
  const client = pusherClient(cluster.nodes[i]!.port, { presence: () => ({ user_id: userId }) });
  clients.push(client);
  await connected(client);
  const left: string[] = [];
  const channel = client.subscribe(CHANNEL);
  channel.bind('pusher:member_removed', (m: { id: string }) => left.push(m.id));
  await new Promise<void>((resolve) => channel.bind('pusher:subscription_succeeded', () => resolve()));
  const members = (channel as unknown as { members: { each(f: (m: { id: string }) => void): void } }).members;
  const ids = (): string[] => {
    const out: string[] = [];
    members.each((m) => out.push(m.id));
    return out.sort();
  };
  return { left, ids };
}

function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end); // the whole process: both nodes' timers and sockets wait
}

const logged = (i: number, msg: string): number =>
  cluster.nodes[i]!.logs.filter((line) => (JSON.parse(line) as { msg: string }).msg === msg).length;

test('a pause of 3 node timeouts: no node is declared down, no member leaves', async () => {
  const ann = await member(0, 'ann');
  const bob = await member(1, 'bob');
  await until(() => ann.ids().join() === 'ann,bob', 'ann sees bob');

  blockFor(FAST_CLUSTER.nodeTimeoutMs * 3);
  await sleep(FAST_CLUSTER.nodeTimeoutMs * 2); // long enough to judge again, and for a leave to arrive

  for (const i of [0, 1]) {
    assert.equal(
      logged(i, 'node stopped heartbeating: its users leave'),
      0,
      `node ${i} blamed the other for its pause`,
    );
    assert.ok(
      logged(i, 'this node was blocked: the silence of the other nodes during that time is not held against them') >= 1,
      `node ${i} said it was blocked`,
    );
  }
  assert.deepEqual(ann.left, [], 'nobody left, as node 0 saw it');
  assert.deepEqual(bob.left, [], 'nobody left, as node 1 saw it');
  assert.equal(ann.ids().join(), 'ann,bob');
});

test('after a pause, a node that really died is still found within the node timeout', async () => {
  const cat = await member(0, 'cat');
  await member(1, 'dan');
  await until(() => cat.ids().join() === 'ann,bob,cat,dan', 'cat sees everyone');
  blockFor(FAST_CLUSTER.nodeTimeoutMs * 2);
  await sleep(FAST_CLUSTER.heartbeatMs * 2);
  const killedAt = Date.now();
  await cluster.nodes[1]!.server.stop('crash');
  await until(() => cat.left.includes('dan'), 'dan left, as node 0 saw it', FAST_CLUSTER.nodeTimeoutMs * 6);
  assert.ok(cat.left.includes('bob'), 'bob (on the dead node) left too');
  assert.ok(Date.now() - killedAt < FAST_CLUSTER.nodeTimeoutMs * 4, `found in ${Date.now() - killedAt} ms`);
  assert.equal(logged(0, 'node stopped heartbeating: its users leave'), 1);
});
