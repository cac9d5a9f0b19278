/**
 * Limits an outsider meets (src/limits/, docs/security.md "Limits and their defaults"), through raw
 * sockets and pusher-js: connections per client address and per node, channels per connection,
 * inbound frames per second, subscriptions replicated from one other node, unpredictable socket
 * ids. Each asserts the bound, that a normal client is served at the same time, the metric, and one
 * log line per episode naming the client address.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { connected, pusherClient, serverSdk, sleep, until } from './helpers/clients.js';
import { startTestCluster } from './helpers/cluster.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { RawClient, appUrl, errorData, rawSubscribe } from './helpers/ws-raw.js';
import { track } from './helpers/track.js';
import { subscribeOutcome } from './helpers/ws-real.js';

function raw(t: TestContext, port: number, localAddress?: string): RawClient {
  return track(t, new RawClient(appUrl(port), localAddress === undefined ? undefined : { localAddress }));
}

async function server(
  t: TestContext,
  limits: Record<string, unknown>,
  transport = 'ws',
  extra: Record<string, unknown> = {},
): Promise<TestServer> {
  return track(t, await startTestServer({ transport, limits, ...extra }));
}

/** `wiremesh_refusals_total{limit="…"}` from /metrics (0 when absent). */
async function refusals(port: number, limit: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^wiremesh_refusals_total\\{limit="${limit}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const warnings = (srv: TestServer, limit: string): Array<Record<string, unknown>> =>
  srv.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40 && l.limit === limit);

/** Once the server has seen a socket close, its slot is free: a new socket connects (retried while refused). */
async function connectsAgain(t: TestContext, port: number): Promise<void> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const r = raw(t, port);
    const f = await r.next(
      (x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error',
      'a new connection',
    );
    if (f.event === 'pusher:connection_established') return;
    if (Date.now() > deadline) throw new Error('the freed slot was not reused');
    await sleep(50);
  }
}

async function refusedWith4100(r: RawClient): Promise<string> {
  const closed = await r.waitClosed();
  assert.equal(closed.code, 4100);
  const err = r.frames.find((f) => f.event === 'pusher:error');
  assert.ok(err, 'a pusher:error before the close');
  assert.equal(errorData(err).code, 4100);
  assert.equal(
    r.frames.some((f) => f.event === 'pusher:connection_established'),
    false,
    'no connection state for a refused socket',
  );
  return errorData(err).message;
}

for (const transport of ['ws', 'uws']) {
  describe(`connections per client address (${transport})`, () => {
    test('the 6th socket of one address gets 4100; another address still connects; one warn per episode', async (t) => {
      const srv = await server(t, { maxConnectionsPerIp: 5 }, transport);
      const first = Array.from({ length: 5 }, () => raw(t, srv.port));
      for (const r of first) await r.established();
      const over = Array.from({ length: 15 }, () => raw(t, srv.port));
      for (const r of over) assert.match(await refusedWith4100(r), /at most 5 connections per client address/);
      // A client from another address is served meanwhile, and so are the five.
      const other = raw(t, srv.port, '127.0.0.2');
      await other.established();
      await rawSubscribe(other, 'news');
      for (const r of first) await r.roundTrip();
      assert.equal(await refusals(srv.port, 'connections_per_ip'), 15);
      const logged = warnings(srv, 'connections_per_ip');
      assert.equal(logged.length, 1, 'one line for the episode, not one per refusal');
      assert.match(String(logged[0]!.client), /127\.0\.0\.1$/);
      // A slot freed is a slot usable again.
      first[0]!.close();
      await connectsAgain(t, srv.port);
    });
  });
}

describe('connections per node', () => {
  test('at limits.maxConnections the next socket gets 4100 while /health answers and open sockets work', async (t) => {
    const srv = await server(t, { maxConnections: 10, maxConnectionsPerIp: 0 });
    const open = Array.from({ length: 10 }, () => raw(t, srv.port));
    for (const r of open) await r.established();
    for (let i = 0; i < 5; i++) assert.match(await refusedWith4100(raw(t, srv.port)), /holds at most 10 connections/);
    assert.equal((await fetch(`${srv.httpUrl}/health`)).status, 200);
    await rawSubscribe(open[0]!, 'news');
    await serverSdk(srv.port).trigger('news', 'hello', { a: 1 });
    await open[0]!.next((f) => f.event === 'hello', 'event at the limit');
    assert.equal(await refusals(srv.port, 'connections'), 5);
    assert.equal(warnings(srv, 'connections').length, 1);
    open[1]!.close();
    await connectsAgain(t, srv.port);
  });

  test('the default is derived from the open-file limit and logged at start', async (t) => {
    const srv = await server(t, {});
    const started = srv.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'wiremesh listening');
    assert.ok(started);
    assert.equal(typeof started.maxConnections, 'number');
    assert.ok((started.maxConnections as number) > 0);
    assert.ok((started.maxConnections as number) < (started.openFiles as number), 'headroom below the open-file limit');
  });
});

describe('channels per connection', () => {
  test('pusher-js: the channel beyond the limit gets pusher:subscription_error (403); the others and another client work', async (t) => {
    const srv = await server(t, { maxChannelsPerConnection: 3 });
    const c = track(t, pusherClient(srv.port));
    const other = track(t, pusherClient(srv.port));
    await connected(c);
    await connected(other);
    for (const ch of ['a', 'b', 'private-c']) assert.deepEqual(await subscribeOutcome(c, ch), { ok: true });
    const refused = await subscribeOutcome(c, 'd');
    assert.equal(refused.ok, false);
    assert.equal(refused.ok === false && refused.error.status, 403);
    assert.match(refused.ok === false ? String(refused.error.error) : '', /at most 3 per connection/);
    assert.deepEqual(await subscribeOutcome(c, 'presence-e').then((o) => o.ok), false);
    assert.equal(c.connection.state, 'connected', 'the connection stays open');
    // Unsubscribing frees a slot.
    c.unsubscribe('a');
    assert.deepEqual(await subscribeOutcome(c, 'f'), { ok: true });
    // Another client on the same node subscribes and receives as usual.
    const got: unknown[] = [];
    other.subscribe('d').bind('hi', (d: unknown) => got.push(d));
    await until(() => other.channel('d')?.subscribed === true, 'other subscribed');
    await serverSdk(srv.port).trigger('d', 'hi', { n: 1 });
    await until(() => got.length === 1, 'event delivered to the other client');
    assert.equal(await refusals(srv.port, 'channels_per_connection'), 2);
    assert.equal(warnings(srv, 'channels_per_connection').length, 1);
  });
});

describe('subscriptions per client address', () => {
  test('the subscription beyond the limit, counted over all connections of one address, gets 403; leaving frees a slot', async (t) => {
    const srv = await server(t, { maxSubscriptionsPerIp: 3 });
    const a = track(t, pusherClient(srv.port));
    const b = track(t, pusherClient(srv.port));
    await connected(a);
    await connected(b);
    for (const ch of ['a1', 'a2']) assert.deepEqual(await subscribeOutcome(a, ch), { ok: true });
    assert.deepEqual(await subscribeOutcome(b, 'b1'), { ok: true });
    const refused = await subscribeOutcome(b, 'b2');
    assert.equal(refused.ok === false && refused.error.status, 403);
    assert.match(refused.ok === false ? String(refused.error.error) : '', /at most 3 per client address/);
    assert.equal(b.connection.state, 'connected', 'the connection stays open');
    a.disconnect();
    await until(() => a.connection.state === 'disconnected', 'a disconnected');
    await sleep(300); // the server sees the close
    assert.deepEqual(await subscribeOutcome(b, 'b3'), { ok: true }, 'the closed connection freed its slots');
    assert.equal(warnings(srv, 'subscriptions_per_ip').length, 1);
  });
});

for (const transport of ['ws', 'uws']) {
  describe(`inbound frames per connection (${transport})`, () => {
    test('a flood of frames is closed with 4301 after the burst; a normal client is served meanwhile', async (t) => {
      const srv = await server(t, { maxFramesPerSecond: 10, maxFrameBurst: 20 }, transport);
      const normal = raw(t, srv.port, '127.0.0.2');
      await normal.established();
      await rawSubscribe(normal, 'news');
      const abuser = raw(t, srv.port);
      await abuser.established();
      for (let i = 0; i < 2_000; i++) abuser.send({ event: 'pusher:ping', data: {} });
      const closed = await abuser.waitClosed();
      assert.equal(closed.code, 4301);
      const pongs = abuser.frames.filter((f) => f.event === 'pusher:pong').length;
      assert.ok(pongs <= 21, `at most the burst was answered (${pongs} pongs)`);
      assert.match((await abuser.error(4301)).message, /at most 10 per second/);
      // The normal client, sending at its own pace, is unaffected.
      for (let i = 0; i < 5; i++) await normal.roundTrip();
      await serverSdk(srv.port).trigger('news', 'hello', 'x');
      await normal.next((f) => f.event === 'hello', 'event for the normal client');
      assert.equal(await refusals(srv.port, 'frames_per_second'), 1);
      const logged = warnings(srv, 'frames_per_second');
      assert.equal(logged.length, 1);
      assert.match(String(logged[0]!.client), /127\.0\.0\.1$/);
    });

    test('a client within the rate is never throttled', async (t) => {
      const srv = await server(t, { maxFramesPerSecond: 20, maxFrameBurst: 20 }, transport);
      const r = raw(t, srv.port);
      await r.established();
      for (let i = 0; i < 30; i++) {
        r.send({ event: 'pusher:ping', data: {} });
        await sleep(60);
      }
      await r.roundTrip();
      assert.equal(r.isOpen, true);
    });
  });
}

describe('subscriptions replicated from one other node', () => {
  test('a node over the cap has its state refused (logged once, counted); normal clients are served on both nodes', async (t) => {
    const cluster = track(t, await startTestCluster(2, { limits: { maxReplicatedSubscriptionsPerNode: 50 } }));
    const [a, b] = cluster.nodes as [TestServer, TestServer];
    // One client on A holds 60 subscriptions (the per-connection cap is 100).
    const flooder = raw(t, a.port);
    await flooder.established();
    for (let i = 0; i < 60; i++) flooder.send({ event: 'pusher:subscribe', data: { channel: `flood-${i}` } });
    await flooder.next(
      (f) => f.channel === 'flood-59' && f.event === 'pusher_internal:subscription_succeeded',
      'last flood subscription',
    );
    await until(() => b.logs.some((l) => l.includes('"limit":"replicated_subscriptions"')), 'refusal on B', 5_000);
    // B keeps at most the cap for A: the HTTP API on B does not list the flood.
    const res = await serverSdk(b.port).get({ path: '/channels', params: { filter_by_prefix: 'flood-' } });
    const listed = Object.keys(((await res.json()) as { channels: Record<string, unknown> }).channels);
    assert.ok(listed.length <= 50, `B lists ${listed.length} channels of A`);
    assert.ok((await refusals(b.port, 'replicated_subscriptions')) >= 1);
    await sleep(500); // several heartbeats of A: still one line for the episode
    assert.equal(warnings(b, 'replicated_subscriptions').length, 1);
    // Normal clients on both nodes: a subscriber on B gets an event published through A.
    const listener = raw(t, b.port);
    await listener.established();
    await rawSubscribe(listener, 'news');
    const speaker = track(t, pusherClient(a.port));
    await connected(speaker);
    await serverSdk(a.port).trigger('news', 'hello', 'x');
    await listener.next((f) => f.event === 'hello', 'event across nodes');
  });
});

describe('socket ids', () => {
  test('are two random integers (\\d+.\\d+), not a shared prefix with a counter', async (t) => {
    const srv = await server(t, {});
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = raw(t, srv.port);
      ids.push(await r.established());
    }
    for (const id of ids) assert.match(id, /^\d+\.\d+$/);
    const firsts = new Set(ids.map((id) => id.split('.')[0]));
    const seconds = ids.map((id) => Number(id.split('.')[1]));
    assert.ok(firsts.size > 25, `first parts vary (${firsts.size} distinct of 30)`);
    const sequential = seconds.filter((n, i) => i > 0 && n === seconds[i - 1]! + 1).length;
    assert.ok(sequential < 3, `second parts are not a counter (${sequential} consecutive)`);
    assert.equal(new Set(ids).size, ids.length);
  });
});
