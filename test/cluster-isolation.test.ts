/**
 * Two deployments on one real Redis (and one real NATS) with the same app id, key and secret,
 * told apart only by `cluster.<driver>.prefix`: neither sees the other's nodes, channels, members
 * or events.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { brokerBinary, startBroker, type Broker, type BrokerKind } from './helpers/brokers.js';
import { connected, pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { startTestServer, type TestServer } from './helpers/server.js';

for (const kind of ['redis', 'nats'] as BrokerKind[]) {
  describe(
    `two deployments on one ${kind} server`,
    { skip: brokerBinary(kind) ? false : `${kind} not installed` },
    () => {
      let broker: Broker | undefined;
      const servers: TestServer[] = [];
      const clients: PusherClient[] = [];
      after(async () => {
        for (const c of clients) c.disconnect();
        await Promise.all(servers.map((s) => s.close()));
        await broker?.stop();
      });

      const deployment = async (prefix: string): Promise<TestServer[]> => {
        const driver =
          kind === 'redis' ? { redis: { url: broker!.url, prefix } } : { nats: { servers: [broker!.url], prefix } };
        const nodes: TestServer[] = [];
        for (let i = 0; i < 2; i++) {
          nodes.push(
            await startTestServer({
              nodeId: `${prefix}${i}`,
              cluster: { driver: kind, heartbeatMs: 100, nodeTimeoutMs: 500, ...driver },
            }),
          );
        }
        servers.push(...nodes);
        return nodes;
      };

      test('nodes, channels, members and events stay inside their prefix', async () => {
        broker = await startBroker(kind);
        const staging = await deployment('staging');
        const prod = await deployment('prod');
        await sleep(400); // several heartbeats: every node has heard every node it can hear

        for (const s of [...staging, ...prod]) {
          const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
          assert.match(text, /^wiremesh_cluster_nodes 2$/m, `${s.server.nodeId} sees only its own deployment`);
        }

        const received: Record<string, string[]> = { staging: [], prod: [] };
        for (const [name, nodes] of [
          ['staging', staging],
          ['prod', prod],
        ] as const) {
          const c = pusherClient(nodes[0]!.port, { presence: () => ({ user_id: `${name}-user` }) });
          clients.push(c);
          await connected(c);
          c.subscribe('presence-shared').bind('ping', (d: { from: string }) => received[name]!.push(d.from));
          await until(() => c.channel('presence-shared')?.subscribed === true, `${name} subscribed`);
        }
        // Same channel, same app: each deployment's members are its own only (asked on its other node).
        for (const [name, nodes] of [
          ['staging', staging],
          ['prod', prod],
        ] as const) {
          const users = await serverSdk(nodes[1]!.port).get({ path: '/channels/presence-shared/users' });
          const body = (await users.json()) as { users: { id: string }[] };
          assert.deepEqual(
            body.users.map((u) => u.id),
            [`${name}-user`],
          );
        }
        // An event published on staging's second node reaches staging's client, never prod's.
        await serverSdk(staging[1]!.port).trigger('presence-shared', 'ping', { from: 'staging' });
        await serverSdk(prod[1]!.port).trigger('presence-shared', 'ping', { from: 'prod' });
        await until(
          () => received.staging!.length === 1 && received.prod!.length === 1,
          'each deployment got its own event',
        );
        await sleep(300);
        assert.deepEqual(received, { staging: ['staging'], prod: ['prod'] });
      });
    },
  );
}
