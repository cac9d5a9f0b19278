/**
 * The cluster behaviour suite: one set of tests, run against every way of running a cluster
 * (memory, Redis, NATS, mesh). Everything goes through real clients: pusher-js, laravel-echo and the
 * `pusher` server SDK.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Pusher from 'pusher';
import { connected, pusherClient, serverSdk, sleep, until, type PusherClient } from '../helpers/clients.js';
import { APP } from '../helpers/server.js';
import type { ClusterHarness, HarnessFactory } from './harness.js';

interface Hook {
  name: string;
  channel: string;
  user_id?: string;
}

type Members = { count: number; each(f: (m: { id: string; info: unknown }) => void): void };
type PresenceChannel = { subscribed: boolean; members: Members; bind(e: string, f: (m: { id: string }) => void): void };

function memberIds(ch: PresenceChannel): string[] {
  const ids: string[] = [];
  ch.members.each((m) => ids.push(m.id));
  return ids.sort();
}

export interface SuiteOptions {
  /** Skips the broker outage test, with this reason (a cluster without a broker: mesh). */
  skipBrokerOutage?: string;
}

export function clusterSuite(name: string, factory: HarnessFactory, options: SuiteOptions = {}): void {
  describe(`cluster: ${name}`, () => {
    let c: ClusterHarness;
    let hookServer: http.Server;
    const hooks: Hook[] = [];
    const clients: PusherClient[] = [];
    let seq = 0;
    const uniq = (p: string): string => `${p}-${++seq}-${Date.now().toString(36)}`;

    function client(node: number, opts: Parameters<typeof pusherClient>[1] = {}): PusherClient {
      const cl = pusherClient(c.ports[node] as number, opts);
      clients.push(cl);
      return cl;
    }
    const sdk = (node: number): Pusher => serverSdk(c.ports[node] as number);

    before(async () => {
      hookServer = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          const wh = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' }).webhook({
            headers: req.headers as Record<string, string>,
            rawBody: body,
          });
          if (wh.isValid()) hooks.push(...(wh.getEvents() as unknown as Hook[]));
          res.end('ok');
        });
      });
      hookServer.listen(0, '127.0.0.1');
      await once(hookServer, 'listening');
      const url = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
      c = await factory(3, url);
    });

    after(async () => {
      for (const cl of clients) cl.disconnect();
      await c?.close();
      hookServer?.close();
    });

    test('events published on any node reach every subscriber on every node exactly once, in order per publisher', async () => {
      const channel = uniq('news');
      // got[client][publisher] = sequence numbers in arrival order
      const got: number[][][] = [0, 1, 2].map(() => [[], [], []]);
      const subs = [0, 1, 2].map((i) => {
        const cl = client(i);
        const ch = cl.subscribe(channel);
        ch.bind('tick', (d: { p: number; n: number }) => (got[i]![d.p] as number[]).push(d.n));
        return ch;
      });
      await until(() => subs.every((s) => s.subscribed), 'all subscribed');
      await sleep(100); // let the nodes hear of each other's subscription on the broker
      // Three publishers, one per node, publishing concurrently, each in its own order.
      await Promise.all(
        [0, 1, 2].map(async (p) => {
          for (let n = 0; n < 40; n++) await sdk(p).trigger(channel, 'tick', { p, n });
        }),
      );
      await until(
        () => got.every((perClient) => perClient.every((seq) => seq.length >= 40)),
        'all events everywhere',
        10_000,
      );
      await sleep(200);
      for (const perClient of got) for (const seq of perClient) assert.deepEqual(seq, [...Array(40).keys()]);
    });

    test('socket_id exclusion works across nodes, and client events cross nodes without echo', async () => {
      const channel = uniq('private-chat');
      const a = client(0);
      const b = client(1);
      const [sa] = await Promise.all([connected(a), connected(b)]);
      const ga: unknown[] = [];
      const gb: unknown[] = [];
      const ca = a.subscribe(channel);
      const cb = b.subscribe(channel);
      ca.bind('msg', (d: unknown) => ga.push(d));
      cb.bind('msg', (d: unknown) => gb.push(d));
      ca.bind('client-typing', (d: unknown) => ga.push(d));
      cb.bind('client-typing', (d: unknown) => gb.push(d));
      await until(() => ca.subscribed && cb.subscribed, 'subscribed');
      await sleep(100);
      await sdk(2).trigger(channel, 'msg', { x: 1 }, { socket_id: sa });
      assert.ok(ca.trigger('client-typing', { who: 'a' }));
      await until(() => gb.length === 2, 'b got both');
      await sleep(200);
      assert.deepEqual(ga, []);
    });

    test('presence is global: every client sees every member, member_added once per user, same user on two nodes counted once', async () => {
      const channel = uniq('presence-room');
      const added: string[][] = [[], [], []];
      const removed: string[][] = [[], [], []];
      const watchers = [0, 1, 2].map((i) => {
        const cl = client(i, { presence: () => ({ user_id: `watcher${i}`, user_info: { node: i } }) });
        const ch = cl.subscribe(channel) as unknown as PresenceChannel;
        ch.bind('pusher:member_added', (m) => (added[i] as string[]).push(m.id));
        ch.bind('pusher:member_removed', (m) => (removed[i] as string[]).push(m.id));
        return ch;
      });
      await until(() => watchers.every((w) => w.subscribed && w.members.count === 3), 'watchers see each other', 5_000);
      added.forEach((a) => a.splice(0));
      // The same user joins on node 1 and node 2 at the same moment.
      const dup1 = client(1, { presence: () => ({ user_id: 'dana' }) });
      const dup2 = client(2, { presence: () => ({ user_id: 'dana' }) });
      const d1 = dup1.subscribe(channel) as unknown as PresenceChannel;
      const d2 = dup2.subscribe(channel) as unknown as PresenceChannel;
      await until(() => watchers.every((w) => w.members.count === 4), 'dana seen everywhere');
      await until(
        () => d1.subscribed && d2.subscribed && d1.members.count === 4 && d2.members.count === 4,
        'dana sees all',
      );
      await sleep(300);
      for (const a of added) assert.deepEqual(a, ['dana']);
      assert.deepEqual(memberIds(d1), ['dana', 'watcher0', 'watcher1', 'watcher2']);
      // Both of dana's sockets leave at the same moment: one member_removed everywhere.
      dup1.disconnect();
      dup2.disconnect();
      await until(() => watchers.every((w) => w.members.count === 3), 'dana gone everywhere');
      await sleep(300);
      for (const r of removed) assert.deepEqual(r, ['dana']);
    });

    test('HTTP API reads are cluster-wide from any node', async () => {
      const channel = uniq('presence-api');
      const chans = [0, 1, 2].map((i) =>
        client(i, { presence: () => ({ user_id: `api${i % 2}` }) }).subscribe(channel),
      );
      await until(() => chans.every((ch) => ch.subscribed), 'subscribed');
      await sleep(300);
      for (const node of [0, 1, 2]) {
        const res = await sdk(node).get({
          path: `/channels/${channel}`,
          params: { info: 'user_count,subscription_count' },
        });
        assert.deepEqual(await res.json(), { occupied: true, user_count: 2, subscription_count: 3 });
        const users = await (await sdk(node).get({ path: `/channels/${channel}/users` })).json();
        assert.deepEqual(users.users.map((u: { id: string }) => u.id).sort(), ['api0', 'api1']);
        const list = await (
          await sdk(node).get({ path: '/channels', params: { filter_by_prefix: channel, info: 'user_count' } })
        ).json();
        assert.deepEqual(list, { channels: { [channel]: { user_count: 2 } } });
      }
    });

    test('webhooks fire exactly once for the cluster', async () => {
      const channel = uniq('presence-hooks');
      const cls = [0, 1, 2].map((i) => client(i, { presence: () => ({ user_id: `hook${i}` }) }));
      const chans = cls.map((cl) => cl.subscribe(channel));
      await until(() => chans.every((ch) => ch.subscribed), 'subscribed');
      await sleep(500);
      for (const cl of cls) cl.unsubscribe(channel);
      const mine = (): Hook[] => hooks.filter((h) => h.channel === channel);
      await until(() => mine().some((h) => h.name === 'channel_vacated'), 'vacated hook', 5_000);
      await sleep(500);
      const count = (n: string): number => mine().filter((h) => h.name === n).length;
      assert.equal(count('channel_occupied'), 1);
      assert.equal(count('channel_vacated'), 1);
      assert.equal(count('member_added'), 3);
      assert.equal(count('member_removed'), 3);
    });

    test('terminate_connections, server-to-user events and watchlists reach every node', async () => {
      const user = uniq('user');
      const u1 = client(0, { user: { id: user } });
      const u2 = client(1, { user: { id: user } });
      const watcher = client(2, { user: { id: uniq('watcher'), watchlist: [user] } });
      const online: string[] = [];
      const offline: string[] = [];
      watcher.user.watchlist.bind('online', (e: { user_ids: string[] }) => online.push(...e.user_ids));
      watcher.user.watchlist.bind('offline', (e: { user_ids: string[] }) => offline.push(...e.user_ids));
      watcher.signin();
      await connected(watcher);
      await until(() => offline.includes(user), 'watched user reported offline');
      const got: unknown[] = [];
      for (const u of [u1, u2]) {
        u.user.bind('notice', (d: unknown) => got.push(d));
        u.signin();
      }
      await until(() => online.includes(user), 'watched user online across nodes');
      await sleep(300);
      await sdk(2).sendToUser(user, 'notice', { hi: 1 });
      await until(() => got.length === 2, 'both sockets got the user event');
      const closed: number[] = [];
      for (const u of [u1, u2])
        u.connection.bind('state_change', (s: { current: string }) => s.current !== 'connected' && closed.push(1));
      await sdk(2).terminateUserConnections(user);
      await until(() => closed.length >= 2, 'both sockets terminated');
      await until(() => offline.filter((id) => id === user).length >= 2, 'watched user offline again', 5_000);
    });

    test('cache channels keep their last event cluster-wide', async () => {
      const channel = uniq('cache-price');
      await sdk(0).trigger(channel, 'price', { v: 42 });
      await sleep(300);
      const cl = client(2);
      const got: unknown[] = [];
      const ch = cl.subscribe(channel);
      ch.bind('price', (d: unknown) => got.push(d));
      await until(() => got.length === 1, 'cached event replayed on another node');
      assert.deepEqual(got[0], { v: 42 });
    });

    test('a node that dies: its users leave on the others within the node timeout; no message lost elsewhere', async () => {
      const channel = uniq('presence-fail');
      const w0 = client(0, { presence: () => ({ user_id: 'survivor0' }) }).subscribe(
        channel,
      ) as unknown as PresenceChannel;
      const w1 = client(1, { presence: () => ({ user_id: 'survivor1' }) }).subscribe(
        channel,
      ) as unknown as PresenceChannel;
      client(2, { presence: () => ({ user_id: 'victim' }) }).subscribe(channel);
      await until(() => w0.members.count === 3 && w1.members.count === 3, 'all three seen');
      const got: number[] = [];
      const news = uniq('after-kill');
      const sub = clients[clients.length - 3]!.subscribe(news);
      sub.bind('n', (d: { n: number }) => got.push(d.n));
      await until(() => sub.subscribed, 'subscribed');
      const t0 = Date.now();
      await c.kill(2);
      for (let n = 0; n < 20; n++) await sdk(1).trigger(news, 'n', { n });
      await until(
        () => w0.members.count === 2 && w1.members.count === 2,
        'victim removed',
        c.nodeTimeoutMs * 3 + 2_000,
      );
      const took = Date.now() - t0;
      assert.ok(took < c.nodeTimeoutMs * 3 + 2_000, `removed after ${took} ms`);
      await until(() => got.length === 20, 'no message lost on survivors');
      assert.deepEqual(got, [...Array(20).keys()]);
    });

    test(
      'broker outage: nodes reconnect, resubscribe and resynchronise presence by themselves',
      { skip: options.skipBrokerOutage ?? false },
      async () => {
        const channel = uniq('presence-outage');
        const a = client(0, { presence: () => ({ user_id: 'before0' }) }).subscribe(
          channel,
        ) as unknown as PresenceChannel;
        const b = client(1, { presence: () => ({ user_id: 'before1' }) }).subscribe(
          channel,
        ) as unknown as PresenceChannel;
        await until(() => a.members.count === 2 && b.members.count === 2, 'both seen before outage');
        // An event published during the outage: at most once. Subscribers on the publishing node get
        // it; the other node's subscribers do not, neither during nor after the outage (no replay).
        const during = uniq('during-outage');
        const local: unknown[] = [];
        const remote: unknown[] = [];
        const subLocal = clients[clients.length - 2]!.subscribe(during);
        const subRemote = clients[clients.length - 1]!.subscribe(during);
        subLocal.bind('e', (d: unknown) => local.push(d));
        subRemote.bind('e', (d: unknown) => remote.push(d));
        await until(() => subLocal.subscribed && subRemote.subscribed, 'subscribed before outage');
        await sleep(200);
        const outage = c.brokerOutage(1_500);
        await sleep(500);
        await sdk(0).trigger(during, 'e', { during: true });
        await until(() => local.length === 1, 'local subscriber got the event during the outage');
        await outage;
        // A join during or right after the outage still reaches the other node once it resyncs.
        const late = client(0, { presence: () => ({ user_id: 'after' }) }).subscribe(
          channel,
        ) as unknown as PresenceChannel;
        await until(() => late.subscribed, 'late joined');
        await until(() => b.members.count === 3, 'node 1 resynchronised presence', 15_000);
        await sleep(500);
        assert.deepEqual(remote, [], 'an event published during the outage is not replayed to other nodes');
        const got: unknown[] = [];
        const news = uniq('post-outage');
        const sub = clients[clients.length - 2]!.subscribe(news);
        sub.bind('e', (d: unknown) => got.push(d));
        await until(() => sub.subscribed, 'subscribed');
        await sleep(200);
        await sdk(0).trigger(news, 'e', { ok: true });
        await until(() => got.length === 1, 'events flow again after the outage', 10_000);
      },
    );
  });
}
