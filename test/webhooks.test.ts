/**
 * Webhooks end to end: pusher-js clients cause the events, a real local HTTP receiver gets them,
 * and every request is checked with the `pusher` SDK's own `webhook().isValid()` / `getEvents()`.
 * Per-endpoint event and channel filters, batching (never across apps), retry after a 500, extra
 * headers, and a receiver that hangs never slowing down delivery on the sockets.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher';
import { connected, pusherClient, PusherJS, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { APP, startTestServer, testApp, type TestServer } from './helpers/server.js';
import {
  webhookReceiver,
  type ReceivedHook,
  type WebhookEventJson,
  type WebhookReceiver,
} from './helpers/api-webhooks.js';
import { subscribeAndCollect } from './helpers/api-clients.js';

const ALL = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'subscription_count',
];
const BATCH_MS = 60;
const TWO = { id: 'app-two', key: 'two-key', secret: 'two-secret' };

let srv: TestServer;
let rx: WebhookReceiver;
const clients: PusherClient[] = [];
function client(opts: Parameters<typeof pusherClient>[1] = {}, port = srv.port): PusherClient {
  const c = pusherClient(port, opts);
  clients.push(c);
  return c;
}

before(async () => {
  // The receiver's helper SDK needs no port: it only verifies signatures.
  rx = await webhookReceiver(serverSdk(0), (path, n) => (path === '/flaky' && n === 0 ? 500 : 200));
  srv = await startTestServer({
    webhooks: { batchMs: BATCH_MS, timeoutMs: 2_000 },
    apps: [
      testApp({
        webhooks: [
          { url: rx.url('/all'), events: ALL, headers: { 'X-Extra': 'from-config' } },
          { url: rx.url('/members'), events: ['member_added', 'member_removed'] },
          {
            url: rx.url('/presence-occupancy'),
            events: ['channel_occupied', 'channel_vacated'],
            filter: { channelNamePrefix: 'presence-' },
          },
          { url: rx.url('/audit'), events: ['channel_occupied'], filter: { channelNameSuffix: '-audit' } },
          { url: rx.url('/flaky'), events: ['channel_occupied'], filter: { channelNamePrefix: 'flaky-' } },
          { url: rx.url('/shared'), events: ['channel_occupied'], filter: { channelNamePrefix: 'shared-' } },
        ],
      }),
      {
        ...TWO,
        webhooks: [{ url: rx.url('/shared'), events: ['channel_occupied'], filter: { channelNamePrefix: 'shared-' } }],
      },
    ],
  });
});
after(async () => {
  for (const c of clients) c.disconnect();
  await srv.close();
  await rx.close();
});

const on = (path: string, channel: string): WebhookEventJson[] => rx.events(path).filter((e) => e.channel === channel);
const names = (events: WebhookEventJson[]): string[] => events.map((e) => e.name);

test('channel_occupied, subscription_count and channel_vacated arrive signed, as JSON, with extra headers', async () => {
  const a = client();
  await connected(a);
  await subscribeAndCollect(a, 'wh-public');
  await until(() => on('/all', 'wh-public').length >= 2, 'occupied + count');
  a.unsubscribe('wh-public');
  await until(() => on('/all', 'wh-public').length === 4, 'vacated + count');
  assert.deepEqual(on('/all', 'wh-public'), [
    { name: 'channel_occupied', channel: 'wh-public' },
    { name: 'subscription_count', channel: 'wh-public', subscription_count: 1 },
    { name: 'channel_vacated', channel: 'wh-public' },
    { name: 'subscription_count', channel: 'wh-public', subscription_count: 0 },
  ]);

  for (const hook of rx.on('/all')) {
    assert.equal(hook.valid, true, `invalid webhook: ${hook.rawBody}`);
    assert.equal(hook.headers['content-type'], 'application/json');
    assert.equal(hook.headers['x-pusher-key'], APP.key);
    assert.equal(hook.headers['x-extra'], 'from-config');
    assert.equal(typeof (JSON.parse(hook.rawBody) as { time_ms: unknown }).time_ms, 'number');
    // Verification is real: the same request does not verify under another secret.
    const forged = serverSdk(0, { secret: 'other-secret' }).webhook({
      headers: hook.headers as Record<string, string>,
      rawBody: hook.rawBody,
    });
    assert.equal(forged.isValid(), false);
  }
  // Endpoints that did not ask for these events / channels got none of them.
  assert.deepEqual(on('/members', 'wh-public'), []);
  assert.deepEqual(on('/presence-occupancy', 'wh-public'), []);
  assert.deepEqual(on('/audit', 'wh-public'), []);
});

test('member_added / member_removed go to the member endpoint, and only those events ever do', async () => {
  const alice = client({ presence: () => ({ user_id: 'alice', user_info: { name: 'Alice' } }) });
  const bob = client({ presence: () => ({ user_id: 'bob' }) });
  const bob2 = client({ presence: () => ({ user_id: 'bob' }) });
  await Promise.all([connected(alice), connected(bob), connected(bob2)]);
  await subscribeAndCollect(alice, 'presence-wh');
  await subscribeAndCollect(bob, 'presence-wh');
  await subscribeAndCollect(bob2, 'presence-wh'); // same user again: no second member_added
  bob.unsubscribe('presence-wh'); // bob still there through bob2: no member_removed
  await sleep(BATCH_MS * 2);
  bob2.unsubscribe('presence-wh');
  await until(() => names(on('/members', 'presence-wh')).includes('member_removed'), 'member_removed');
  assert.deepEqual(on('/members', 'presence-wh'), [
    { name: 'member_added', channel: 'presence-wh', user_id: 'alice' },
    { name: 'member_added', channel: 'presence-wh', user_id: 'bob' },
    { name: 'member_removed', channel: 'presence-wh', user_id: 'bob' },
  ]);
  await until(
    () => on('/all', 'presence-wh').filter((e) => e.name.startsWith('member_')).length === 3,
    'members on /all too',
  );
  // The presence-prefix endpoint saw this channel's occupancy and nothing of the public one.
  assert.deepEqual(on('/presence-occupancy', 'presence-wh'), [{ name: 'channel_occupied', channel: 'presence-wh' }]);
  for (const hook of rx.on('/members')) {
    assert.equal(hook.valid, true);
    for (const e of hook.events) assert.match(e.name, /^member_(added|removed)$/);
  }
  for (const e of rx.events('/presence-occupancy')) assert.ok(e.channel.startsWith('presence-'), e.channel);
  // No subscription_count webhooks for presence channels (member events stand for them).
  assert.deepEqual(
    on('/all', 'presence-wh').filter((e) => e.name === 'subscription_count'),
    [],
  );
});

test('client_event carries channel, event, data, socket_id (and user_id on presence)', async () => {
  const a = client({ presence: () => ({ user_id: 'writer' }) });
  const b = client({ presence: () => ({ user_id: 'reader' }) });
  const [aId] = await Promise.all([connected(a), connected(b)]);
  await subscribeAndCollect(a, 'private-wh-chat');
  const seen = await subscribeAndCollect(b, 'private-wh-chat');
  await subscribeAndCollect(a, 'presence-wh-chat');
  await subscribeAndCollect(b, 'presence-wh-chat');
  a.channel('private-wh-chat').trigger('client-typing', { x: 1 });
  a.channel('presence-wh-chat').trigger('client-typing', { y: 2 });
  await until(() => seen.length === 1, 'b got the client event');
  await until(() => on('/all', 'private-wh-chat').some((e) => e.name === 'client_event'), 'private client_event');
  await until(() => on('/all', 'presence-wh-chat').some((e) => e.name === 'client_event'), 'presence client_event');
  assert.deepEqual(
    on('/all', 'private-wh-chat').find((e) => e.name === 'client_event'),
    {
      name: 'client_event',
      channel: 'private-wh-chat',
      event: 'client-typing',
      data: '{"x":1}',
      socket_id: aId,
    },
  );
  assert.deepEqual(
    on('/all', 'presence-wh-chat').find((e) => e.name === 'client_event'),
    {
      name: 'client_event',
      channel: 'presence-wh-chat',
      event: 'client-typing',
      data: '{"y":2}',
      socket_id: aId,
      user_id: 'writer',
    },
  );
});

test('cache_miss when subscribing to an empty cache channel; none once it holds an event', async () => {
  const a = client();
  await connected(a);
  await subscribeAndCollect(a, 'cache-wh');
  await until(() => names(on('/all', 'cache-wh')).includes('cache_miss'), 'cache_miss');
  await serverSdk(srv.port).trigger('cache-wh', 'latest', { v: 1 });
  const b = client();
  await connected(b);
  const got = await subscribeAndCollect(b, 'cache-wh');
  await until(() => got.length === 1, 'cached event replayed');
  await sleep(BATCH_MS * 2);
  assert.equal(on('/all', 'cache-wh').filter((e) => e.name === 'cache_miss').length, 1);
});

test('events within one batch window share one request; channel suffix filter applies', async () => {
  const a = client();
  await connected(a);
  const channels = ['batch-1-audit', 'batch-2-audit', 'batch-3', 'batch-4-audit'];
  for (const ch of channels) a.subscribe(ch); // sent back to back, inside one window
  await until(
    () => rx.events('/audit').filter((e) => e.channel.startsWith('batch-')).length === 3,
    'three audit events',
  );
  const hooks = rx.on('/audit').filter((h) => h.events.some((e) => e.channel.startsWith('batch-')));
  assert.equal(hooks.length, 1, `expected one request, got ${hooks.length}`);
  assert.deepEqual(hooks[0]!.events.map((e) => e.channel).sort(), ['batch-1-audit', 'batch-2-audit', 'batch-4-audit']);
  const allBatches = rx.on('/all').filter((h) => h.events.some((e) => e.channel.startsWith('batch-')));
  assert.ok(
    allBatches.some((h) => h.events.length >= 4),
    'several events in one /all request',
  );
});

test('a receiver answering 500 gets the same signed batch again later, then it counts as delivered', async () => {
  const a = client();
  await connected(a);
  await subscribeAndCollect(a, 'flaky-1');
  await until(() => rx.on('/flaky').length >= 2, 'retried', 5_000);
  const [first, second] = rx.on('/flaky');
  assert.equal(first!.answered, 500);
  assert.equal(second!.answered, 200);
  assert.equal(second!.rawBody, first!.rawBody);
  assert.equal(second!.valid, true);
  assert.deepEqual(second!.events, [{ name: 'channel_occupied', channel: 'flaky-1' }]);
  assert.ok(second!.at - first!.at >= 200, `retried after a back-off (${second!.at - first!.at} ms)`);
  const metrics = await (await fetch(`${srv.httpUrl}/metrics`)).text();
  assert.match(metrics, /wiremesh_webhooks_total\{app="app-id",outcome="failed"\} [1-9]/);
  assert.match(metrics, /wiremesh_webhooks_total\{app="app-id",outcome="ok"\} [1-9]/);
});

test("two apps never share a batch: each request holds one app's events, signed with its own secret", async () => {
  const one = client();
  const two = new PusherJS(TWO.key, {
    wsHost: '127.0.0.1',
    wsPort: srv.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    cluster: 'mt1',
  } as never);
  clients.push(two);
  await Promise.all([connected(one), connected(two)]);
  one.subscribe('shared-one');
  two.subscribe('shared-two'); // same batch window, same endpoint URL
  await until(() => rx.on('/shared').length >= 2, 'a request per app');
  const sdkTwo = new Pusher({ appId: TWO.id, key: TWO.key, secret: TWO.secret, host: '127.0.0.1' });
  const verify = (h: ReceivedHook, sdk: Pusher): boolean =>
    sdk.webhook({ headers: h.headers as Record<string, string>, rawBody: h.rawBody }).isValid();
  const bodies = rx
    .on('/shared')
    .map((h) => ({ h, events: (JSON.parse(h.rawBody) as { events: WebhookEventJson[] }).events }));
  assert.equal(bodies.length, 2);
  for (const { h, events } of bodies) {
    const channels = events.map((e) => e.channel);
    if (channels.includes('shared-one')) {
      assert.deepEqual(channels, ['shared-one']);
      assert.equal(h.headers['x-pusher-key'], APP.key);
      assert.equal(verify(h, serverSdk(0)), true);
      assert.equal(verify(h, sdkTwo), false);
    } else {
      assert.deepEqual(channels, ['shared-two']);
      assert.equal(h.headers['x-pusher-key'], TWO.key);
      assert.equal(verify(h, sdkTwo), true);
      assert.equal(verify(h, serverSdk(0)), false);
    }
  }
});

test('a receiver that never answers does not delay delivery on the sockets', async () => {
  const hang = await webhookReceiver(serverSdk(0), () => 'hang');
  const slow = await startTestServer({
    webhooks: { batchMs: 0, timeoutMs: 10_000 },
    apps: [testApp({ webhooks: [{ url: hang.url('/hang'), events: ALL }] })],
  });
  try {
    const a = client({}, slow.port);
    const b = client({}, slow.port);
    await Promise.all([connected(a), connected(b)]);
    const got = await subscribeAndCollect(b, 'private-hang');
    await subscribeAndCollect(a, 'private-hang');
    for (let i = 0; i < 5; i++) a.channel('private-hang').trigger('client-x', { i });
    await until(() => hang.hooks.length >= 1, 'the hanging receiver has a request');
    const sdk = serverSdk(slow.port);
    const t0 = Date.now();
    await sdk.trigger('private-hang', 'server-event', { fast: true });
    await until(() => got.some((e) => e.event === 'server-event'), 'server event delivered', 1_000);
    const ms = Date.now() - t0;
    assert.ok(ms < 500, `delivery took ${ms} ms while a webhook hangs`);
    assert.equal(got.filter((e) => e.event === 'client-x').length, 5);
  } finally {
    await slow.close();
    await hang.close();
  }
});
