/**
 * Channel history in NATS JetStream (`history.store: broker` on the nats driver), at its edges, on
 * two in-process nodes over a real `nats-server -js`: one stream per app with the app's limits and
 * an epoch; positions are stream sequences (not contiguous per channel) and a replay gives exactly
 * what followed; two nodes appending to one channel at once keep its chain exact; a position
 * older than what is kept is `too_old`, one of a stream deleted since a `reset`; a publish
 * JetStream did not ack is refused (503) and delivered nowhere; after nats-server comes back, the
 * live consumer goes on where it was (no gap); without JetStream the node refuses to start, naming
 * the fix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { startBroker, type Broker } from './helpers/brokers.js';
import { serverSdk, sleep, until } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import type { RawClient } from './helpers/ws-raw.js';
import { isStart, numbers, posOf, subscribe } from './history/broker-client.js';

const PREFIX = 'wmtest';
const HISTORY = { channels: ['hist-*'], maxEvents: 5, maxAgeMs: 60_000, resumesPerSecond: 5 };

describe('channel history in NATS JetStream, edges', () => {
  let broker: Broker;
  let nodes: TestServer[];
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const opened: RawClient[] = [];
  const appId = String(testApp().id);
  const stream = `${PREFIX}_hist_${appId}`;

  before(async () => {
    broker = await startBroker('nats');
    const cluster = {
      driver: 'nats',
      nats: { servers: [broker.url], prefix: PREFIX },
      heartbeatMs: 100,
      nodeTimeoutMs: 500,
    };
    nodes = [];
    for (let i = 0; i < 2; i++)
      nodes.push(await startTestServer({ nodeId: `n${i}`, cluster, apps: [testApp({ history: HISTORY })] }));
    nc = await connect({ servers: broker.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    for (const r of opened) r.close();
    await Promise.all(nodes.map((n) => n.close()));
    await nc.close();
    await broker.stop();
  });

  test("one stream per app, with the app's limits and an epoch in its description", async () => {
    const info = await jsm.streams.info(stream);
    assert.equal(info.config.max_msgs_per_subject, 5);
    assert.equal(info.config.max_age, 60_000 * 1_000_000);
    assert.equal(info.config.allow_direct, true);
    assert.equal(info.config.storage, 'file');
    assert.equal(info.config.discard, 'old');
    assert.match(info.config.description ?? '', /^wiremesh history epoch [A-Za-z0-9_-]+$/);
    assert.deepEqual(info.config.subjects, [`${PREFIX}.h.${Buffer.from(appId).toString('base64url')}.>`]);
  });

  test('positions are stream sequences; a replay from one gives exactly what followed on that channel', async () => {
    const [a, b] = ['hist-pos-a', 'hist-pos-b'];
    const live = await subscribe(nodes[0]!.port, a);
    opened.push(live.raw);
    const sdk = serverSdk(nodes[1]!.port);
    for (let n = 1; n <= 4; n++) {
      await sdk.trigger(a, 'n', { n });
      await sdk.trigger(b, 'n', { n: 100 + n }); // interleaved: a's sequences are not contiguous
    }
    await until(() => numbers(live).length === 4, '4 live events');
    const serials = [1, 2, 3, 4].map((n) => Number(posOf(live.raw, n).split(':')[1]));
    assert.deepEqual(
      serials.map((s, i) => s - (serials[i - 1] ?? s - 2)),
      [2, 2, 2, 2],
    );
    const back = await subscribe(nodes[1]!.port, a, posOf(live.raw, 2));
    const fresh = await subscribe(nodes[0]!.port, a, 'new');
    opened.push(back.raw, fresh.raw);
    const resumed = await back.raw.next((f) => f.event === 'wiremesh:resumed', 'resumed');
    assert.deepEqual(numbers(back), [3, 4]);
    assert.equal((resumed as { wm_pos?: string }).wm_pos, posOf(live.raw, 4));
    const start = await fresh.raw.next(isStart, 'a starting position');
    assert.equal((start as { wm_pos?: string }).wm_pos, posOf(live.raw, 4));
    await sdk.trigger(a, 'n', { n: 5 });
    await until(() => numbers(back).length === 3 && numbers(fresh).length === 1, 'event 5 live to both');
    assert.deepEqual(numbers(back), [3, 4, 5]);
  });

  test('two nodes appending to one channel at once: every event chained to the one before (a replay from the first has all)', async () => {
    const channel = 'hist-race';
    const live = await subscribe(nodes[0]!.port, channel);
    opened.push(live.raw);
    const sdks = [serverSdk(nodes[0]!.port), serverSdk(nodes[1]!.port)];
    await sdks[0]!.trigger(channel, 'n', { n: 0 });
    await live.raw.next((f) => f.event === 'n', 'event 0');
    await Promise.all([1, 2, 3, 4].map((n) => sdks[n % 2]!.trigger(channel, 'n', { n })));
    await until(() => numbers(live).length === 5, '5 live events');
    const back = await subscribe(nodes[1]!.port, channel, posOf(live.raw, 0));
    opened.push(back.raw);
    await back.raw.next((f) => f.event === 'wiremesh:resumed', 'resumed');
    assert.deepEqual(
      numbers(back),
      numbers(live).slice(1),
      'the replay is the live order, all four, none reported missing',
    );
  });

  test('a position older than what is kept is too_old', async () => {
    const channel = 'hist-trim';
    const live = await subscribe(nodes[0]!.port, channel);
    opened.push(live.raw);
    const sdk = serverSdk(nodes[1]!.port);
    for (let n = 1; n <= 10; n++) await sdk.trigger(channel, 'n', { n });
    await until(() => numbers(live).length === 10, '10 live events');
    // maxEvents 5: 6..10 are kept. From 5: all of them; from 4: too old.
    const ok = await subscribe(nodes[1]!.port, channel, posOf(live.raw, 5));
    const gap = await subscribe(nodes[0]!.port, channel, posOf(live.raw, 4));
    opened.push(ok.raw, gap.raw);
    await ok.raw.next((f) => f.event === 'wiremesh:resumed', 'resumed');
    assert.deepEqual(numbers(ok), [6, 7, 8, 9, 10]);
    const g = await gap.raw.next((f) => f.event === 'wiremesh:gap', 'gap');
    assert.match(String(g.data), /too_old/);
  });

  test('a stream deleted in JetStream is made again with a new epoch: a client holding an old position is told reset', async () => {
    const channel = 'hist-lost';
    const live = await subscribe(nodes[0]!.port, channel);
    opened.push(live.raw);
    await serverSdk(nodes[0]!.port).trigger(channel, 'n', { n: 1 });
    await live.raw.next((f) => f.event === 'n', 'event 1');
    const held = posOf(live.raw, 1);
    await jsm.streams.delete(stream);
    await serverSdk(nodes[1]!.port).trigger(channel, 'n', { n: 2 });
    await until(() => numbers(live).includes(2), 'event 2, live on the other node');
    assert.notEqual(posOf(live.raw, 2).split(':')[0], held.split(':')[0], 'a new epoch');
    const back = await subscribe(nodes[1]!.port, channel, held);
    opened.push(back.raw);
    const g = await back.raw.next((f) => f.event === 'wiremesh:gap', 'gap');
    assert.match(String(g.data), /reset/);
    // Both nodes publish on into the new stream, and a resume from its position misses nothing.
    await serverSdk(nodes[0]!.port).trigger(channel, 'n', { n: 3 });
    await until(() => numbers(live).includes(3), 'event 3');
    const again = await subscribe(nodes[0]!.port, channel, posOf(live.raw, 2));
    opened.push(again.raw);
    await again.raw.next((f) => f.event === 'wiremesh:resumed', 'resumed');
    assert.deepEqual(numbers(again), [3]);
  });

  test('JetStream not acking: the publish is refused (503) and delivered nowhere; after nats-server is back the live feed goes on, no gap', async () => {
    const channel = 'hist-down';
    // A resuming client (it would be told of a gap if this node thought its live copies lost).
    const live = await subscribe(nodes[1]!.port, channel, 'new');
    opened.push(live.raw);
    const sdk = serverSdk(nodes[0]!.port);
    await sdk.trigger(channel, 'n', { n: 1 });
    await until(() => numbers(live).includes(1), 'event 1');
    await broker.kill();
    await assert.rejects(sdk.trigger(channel, 'n', { n: 2 }), (err: { status?: number; body?: string }) => {
      assert.equal(err.status, 503);
      assert.match(String(err.body), /history store did not keep the event/);
      return true;
    });
    await broker.restart();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await sdk.trigger(channel, 'n', { n: 3 }).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await sleep(100);
    }
    assert.equal(status, 200);
    await sdk.trigger(channel, 'n', { n: 4 });
    await until(() => numbers(live).includes(4), 'events after the restart, live', 10_000).catch((e: unknown) => {
      console.log(
        'DBG',
        JSON.stringify(live.frames()),
        nodes[1]!.logs
          .filter((l) => /history|nats|store/.test(l))
          .slice(-15)
          .join('\n'),
      );
      throw e;
    });
    assert.deepEqual(numbers(live), [1, 3, 4], 'the refused event nowhere, the others once, in order');
    assert.ok(!live.frames().some((f) => f.event === 'wiremesh:gap'), 'no gap: the consumer resumed where it was');
    // The stream is on disk: a resume from before the outage gets what followed.
    const back = await subscribe(nodes[0]!.port, channel, posOf(live.raw, 1));
    opened.push(back.raw);
    await back.raw.next((f) => f.event === 'wiremesh:resumed', 'resumed');
    assert.deepEqual(numbers(back), [3, 4]);
  });
});

describe('channel history in NATS JetStream: a server without JetStream', () => {
  let broker: Broker;
  before(async () => {
    broker = await startBroker('nats', { jetstream: false });
  });
  after(async () => {
    await broker.stop();
  });

  test('the node refuses to start, naming the fix', async () => {
    await assert.rejects(
      startTestServer({
        cluster: { driver: 'nats', nats: { servers: [broker.url] } },
        apps: [testApp({ history: HISTORY })],
      }),
      /needs JetStream.*nats-server with -js.*or set history\.store to memory/,
    );
  });
});

describe('channel history in NATS JetStream: events that expired by age', () => {
  let broker: Broker;
  let node: TestServer;
  const opened: RawClient[] = [];
  before(async () => {
    broker = await startBroker('nats');
    node = await startTestServer({
      cluster: {
        driver: 'nats',
        nats: { servers: [broker.url], prefix: PREFIX },
        heartbeatMs: 100,
        nodeTimeoutMs: 500,
      },
      apps: [testApp({ history: { ...HISTORY, maxAgeMs: 1_000 } })],
    });
  });
  after(async () => {
    for (const r of opened) r.close();
    await node.close();
    await broker.stop();
  });

  const startOf = async (channel: string): Promise<string> => {
    const fresh = await subscribe(node.port, channel, 'new');
    opened.push(fresh.raw);
    const p = await fresh.raw.next(isStart, 'a starting position');
    return String((p as { wm_pos?: string }).wm_pos);
  };

  test('a position before a channel whose events came and expired is too_old, never a silent hole', async () => {
    const sdk = serverSdk(node.port);
    // A client takes the start of an empty channel, then leaves; event 1 comes and expires, then event 2.
    const start = await startOf('hist-aged');
    await sdk.trigger('hist-aged', 'n', { n: 1 });
    await sleep(2_500);
    await sdk.trigger('hist-aged', 'n', { n: 2 });
    const back = await subscribe(node.port, 'hist-aged', start);
    opened.push(back.raw);
    const g = await back.raw.next((f) => f.event === 'wiremesh:gap' || f.event === 'wiremesh:resumed', 'an answer');
    assert.equal(g.event, 'wiremesh:gap', `event 1 was missed: ${JSON.stringify(back.frames())}`);
    assert.match(String(g.data), /too_old/);
  });

  test('a position taken before the first event, back within maxAgeMs: every event, no gap', async () => {
    const start = await startOf('hist-young');
    await serverSdk(node.port).trigger('hist-young', 'n', { n: 1 });
    const back = await subscribe(node.port, 'hist-young', start);
    opened.push(back.raw);
    await back.raw.next((f) => f.event === 'wiremesh:resumed', 'resumed');
    assert.deepEqual(numbers(back), [1]);
  });
});

describe('channel history in NATS JetStream: an event above the server max_payload', () => {
  let broker: Broker;
  let node: TestServer;
  before(async () => {
    broker = await startBroker('nats', { maxPayload: 4_096 });
    node = await startTestServer({
      cluster: { driver: 'nats', nats: { servers: [broker.url] } },
      apps: [testApp({ history: HISTORY })],
    });
  });
  after(async () => {
    await node.close();
    await broker.stop();
  });

  test('is refused (413) with the reason; smaller ones are kept', async () => {
    const sdk = serverSdk(node.port);
    await assert.rejects(
      sdk.trigger('hist-big', 'n', { pad: 'x'.repeat(5_000) }),
      (err: { status?: number; body?: string }) => {
        assert.equal(err.status, 413);
        assert.match(String(err.body), /does not fit in a NATS message: the nats-server's max_payload is 4096 bytes/);
        return true;
      },
    );
    assert.equal((await sdk.trigger('hist-big', 'n', { pad: 'x'.repeat(1_000) })).status, 200);
  });
});
