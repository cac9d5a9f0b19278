/**
 * Channel history in Redis Streams (`history.store: broker`), at its edges, on two in-process
 * nodes over a real redis-server: a publish the store refused is refused to the API (503, with a
 * log line) and delivered nowhere; a resume never creates a stream; a position older than what is
 * kept is a `too_old` gap, one of a lost stream a `reset`; resumes beyond an address's budget get
 * a gap; a node whose broker subscription dropped tells its resuming clients; the keys live under
 * the prefix with the topic as a hash tag, and expire.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { startBroker, type Broker } from './helpers/brokers.js';
import { serverSdk, sleep, until } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import type { RawClient } from './helpers/ws-raw.js';
import { isStart, numbers, posOf, subscribe } from './history/broker-client.js';

const PREFIX = 'wmtest';
const HISTORY = { channels: ['hist-*'], maxEvents: 5, maxAgeMs: 60_000, resumesPerSecond: 1 };

for (const variant of [
  { name: 'a standalone server', cluster: false, sharded: false },
  { name: 'a Redis Cluster, sharded pub/sub', cluster: true, sharded: true },
])
  describe(`channel history in Redis Streams, edges: ${variant.name}`, () => {
    let broker: Broker;
    let nodes: TestServer[];
    let redis: ReturnType<typeof createClient>;
    const opened: RawClient[] = [];

    before(async () => {
      broker = await startBroker('redis');
      const cluster = {
        driver: 'redis',
        redis: { url: broker.url, prefix: PREFIX },
        heartbeatMs: 100,
        nodeTimeoutMs: 500,
      };
      nodes = [];
      for (let i = 0; i < 2; i++)
        nodes.push(await startTestServer({ nodeId: `n${i}`, cluster, apps: [testApp({ history: HISTORY })] }));
      redis = createClient({ url: broker.url });
      redis.on('error', () => {}); // the last test takes Redis away; this client is not under test
      await redis.connect();
    });
    after(async () => {
      for (const r of opened) r.close();
      await Promise.all(nodes.map((n) => n.close()));
      if (redis.isOpen) redis.destroy();
      await broker.stop();
    });

    const keys = async (): Promise<string[]> => (await redis.keys(`${PREFIX}:h:*`)).sort();

    test('a resume never creates a stream; a new subscription before the first event gets the epoch of the stream to come', async () => {
      const fresh = await subscribe(nodes[0]!.port, 'hist-none', 'new');
      const old = await subscribe(nodes[1]!.port, 'hist-none-2', 'AAAA:170000000000000');
      opened.push(fresh.raw, old.raw);
      await old.raw.next((f) => f.event === 'wiremesh:gap', 'a gap for a stream that is not there');
      assert.match(String(old.frames().find((f) => f.event === 'wiremesh:gap')?.data), /reset/);
      const position = await fresh.raw.next(isStart, 'a starting position');
      const start = (position as { wm_pos?: string }).wm_pos ?? '';
      assert.match(start, /^[A-Za-z0-9_-]+:0$/, 'before the first event of an epoch taken now');
      const kept = await keys();
      assert.equal(kept.length, 1, `only the epoch key, no stream: ${kept.join(' ')}`);
      assert.match(kept[0]!, /:e$/);
      assert.ok((await redis.pTTL(kept[0]!)) > 0, 'it expires');
      // The first publish creates it: two keys in one slot, expiring.
      await serverSdk(nodes[0]!.port).trigger('hist-none', 'n', { n: 1 });
      const first = await fresh.raw.next((f) => f.event === 'n', 'the first event, live');
      assert.equal(
        (first as { wm_pos?: string }).wm_pos,
        `${start.split(':')[0]}:1`,
        'the stream took the epoch given out',
      );
      const made = await keys();
      assert.equal(made.length, 2);
      assert.match(made[0]!, /^wmtest:h:\{[A-Za-z0-9_-]+\}:e$/);
      assert.equal(made[0]!.slice(0, -2), made[1]!.slice(0, -2), 'one hash tag for the stream and its epoch');
      for (const k of made) assert.ok((await redis.pTTL(k)) > 0, `${k} expires`);
    });

    test('a position older than what is kept is too_old; within it, exactly what followed is replayed', async () => {
      const channel = 'hist-trim';
      const live = await subscribe(nodes[0]!.port, channel);
      opened.push(live.raw);
      const sdk = serverSdk(nodes[1]!.port);
      for (let n = 1; n <= 10; n++) await sdk.trigger(channel, 'n', { n });
      await until(() => live.frames().filter((f) => f.event === 'n').length === 10, '10 live events');
      // maxEvents 5: 6..10 are kept. From 5: all of them; from 4: too old.
      const ok = await subscribe(nodes[1]!.port, channel, posOf(live.raw, 5));
      const gap = await subscribe(nodes[0]!.port, channel, posOf(live.raw, 4));
      opened.push(ok.raw, gap.raw);
      await ok.raw.next((f) => f.event === 'wiremesh:resumed', 'resumed');
      assert.deepEqual(numbers(ok), [6, 7, 8, 9, 10]);
      const g = await gap.raw.next((f) => f.event === 'wiremesh:gap', 'gap');
      assert.match(String(g.data), /too_old/);
    });

    test('a stream lost in Redis (a flush) is a reset for a client holding its old position', async () => {
      const channel = 'hist-lost';
      const live = await subscribe(nodes[0]!.port, channel);
      opened.push(live.raw);
      await serverSdk(nodes[0]!.port).trigger(channel, 'n', { n: 1 });
      await live.raw.next((f) => f.event === 'n', 'event 1');
      const held = posOf(live.raw, 1);
      await redis.flushAll();
      await serverSdk(nodes[0]!.port).trigger(channel, 'n', { n: 2 });
      await live.raw.next((f) => f.event === 'n' && (JSON.parse(f.data as string) as { n: number }).n === 2, 'event 2');
      assert.notEqual(posOf(live.raw, 2).split(':')[0], held.split(':')[0], 'a new epoch');
      const back = await subscribe(nodes[1]!.port, channel, held);
      opened.push(back.raw);
      const g = await back.raw.next((f) => f.event === 'wiremesh:gap', 'gap');
      assert.match(String(g.data), /reset/);
    });

    test('resumes beyond the budget of one address are answered with a gap, and logged', async () => {
      // resumesPerSecond 1: a burst of 10, the first tests took a few.
      const outcomes: string[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await subscribe(nodes[0]!.port, `hist-budget-${i}`, 'new');
        opened.push(r.raw);
        await r.raw.roundTrip();
        await sleep(20);
        outcomes.push(r.frames().some((f) => f.event === 'wiremesh:gap') ? 'gap' : 'ok');
      }
      assert.ok(outcomes.includes('gap'), outcomes.join(' '));
      assert.ok(nodes[0]!.logs.some((l) => l.includes('too many resumes from one address')));
    });

    test('a node whose broker subscription dropped tells its resuming clients of the gap once it is back', async () => {
      const channel = 'hist-blip';
      const resuming = await subscribe(nodes[1]!.port, channel, 'new');
      opened.push(resuming.raw);
      await resuming.raw.roundTrip();
      // Redis drops every subscriber connection (the nodes' publish connections and the store stay).
      await redis.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      const g = await resuming.raw.next((f) => f.event === 'wiremesh:gap', 'a gap notice after the reconnect', 10_000);
      assert.match(String(g.data), /unavailable/);
    });

    test('a publish the store refused is refused (503) and logged; delivered nowhere; accepted again once Redis is back', async () => {
      const channel = 'hist-down';
      const live = await subscribe(nodes[1]!.port, channel);
      opened.push(live.raw);
      await broker.kill();
      const sdk = serverSdk(nodes[0]!.port);
      await assert.rejects(sdk.trigger(channel, 'n', { n: 1 }), (err: { status?: number; body?: string }) => {
        assert.equal(err.status, 503);
        assert.match(String(err.body), /history store did not keep the event/);
        return true;
      });
      assert.ok(nodes[0]!.logs.some((l) => l.includes('the history store refused an event')));
      // A channel without history is not held up by the store.
      await sdk.trigger('plain', 'n', { n: 0 });
      await broker.restart();
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = await sdk.trigger(channel, 'n', { n: 2 }).then(
          (r) => r.status,
          () => 0,
        );
        if (status !== 200) await sleep(100);
      }
      assert.equal(status, 200);
      // The store may be back before node 1 has subscribed again (an event then reaches the stream
      // but not node 1's live subscribers): publish until one arrives live.
      for (let n = 3; n < 100 && !live.frames().some((f) => f.event === 'n'); n++) {
        await sdk.trigger(channel, 'n', { n });
        await sleep(100);
      }
      await live.raw.next((f) => f.event === 'n', 'an event after Redis came back', 1_000);
      assert.ok(!live.raw.texts.some((t) => t.includes('\\"n\\":1}')), 'the refused event was delivered nowhere');
    });
  });
