import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhooksConfig } from '../config/schema.js';
import { createLogger, silentLogger } from '../log/logger.js';
import { WebhookDispatcher } from './dispatcher.js';
import {
  eventsOf,
  makeApp,
  pusherWebhook,
  startReceiver,
  TEST_WEBHOOKS,
  type Received,
} from './receiver.test.helper.js';

const CONFIG = TEST_WEBHOOKS;

test('signs each request so the pusher SDK accepts it, and only with the right secret', async (t) => {
  const receiver = await startReceiver();
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger, now: () => 1_700_000_000_123 });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [
    { url: receiver.url('/hook'), headers: { 'X-Extra': 'yes', 'X-Pusher-Key': 'spoofed' } },
  ]);

  dispatcher.emit(app, { name: 'member_added', channel: 'presence-room', user_id: 'u1' });
  dispatcher.emit(app, {
    name: 'client_event',
    channel: 'private-chat',
    event: 'client-typing',
    data: '{"a":1}',
    socket_id: '1.2',
  });
  dispatcher.emit(app, { name: 'subscription_count', channel: 'chat', subscription_count: 3 });
  const [req] = (await receiver.waitFor(1)) as [Received];

  const webhook = pusherWebhook(req, app);
  assert.equal(webhook.isValid(), true);
  assert.equal(pusherWebhook(req, { ...app, secret: 'other-secret' }).isValid(), false);
  assert.equal(webhook.getTime().getTime(), 1_700_000_000_123);
  assert.deepEqual(webhook.getEvents(), [
    { name: 'member_added', channel: 'presence-room', user_id: 'u1' },
    { name: 'client_event', channel: 'private-chat', event: 'client-typing', data: '{"a":1}', socket_id: '1.2' },
    { name: 'subscription_count', channel: 'chat', subscription_count: 3 },
  ]);
  assert.equal(req.headers['x-extra'], 'yes');
  assert.equal(req.headers['x-pusher-key'], 'app1-key');
  assert.equal(req.headers['content-type'], 'application/json');
});

test("batches an app's events into one request per endpoint", async (t) => {
  const receiver = await startReceiver();
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/a') }, { url: receiver.url('/b') }]);

  for (const channel of ['c1', 'c2', 'c3']) dispatcher.emit(app, { name: 'channel_occupied', channel });
  await receiver.waitFor(2);
  await sleep(CONFIG.batchMs * 3);

  assert.equal(receiver.requests.length, 2);
  for (const path of ['/a', '/b']) {
    const [req] = receiver.on(path);
    assert.ok(req, `no request on ${path}`);
    assert.deepEqual(
      eventsOf(req).map((e) => e.channel),
      ['c1', 'c2', 'c3'],
    );
  }
});

test('never puts two apps in one batch', async (t) => {
  const receiver = await startReceiver();
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const a = makeApp('a', [{ url: receiver.url('/hook') }]);
  const b = makeApp('b', [{ url: receiver.url('/hook') }]);

  dispatcher.emit(a, { name: 'channel_occupied', channel: 'a1' });
  dispatcher.emit(b, { name: 'channel_occupied', channel: 'b1' });
  dispatcher.emit(a, { name: 'channel_vacated', channel: 'a2' });
  dispatcher.emit(b, { name: 'channel_vacated', channel: 'b2' });
  await receiver.waitFor(2);
  await sleep(CONFIG.batchMs * 3);

  assert.equal(receiver.requests.length, 2);
  const byKey = new Map(receiver.requests.map((req) => [req.headers['x-pusher-key'], req]));
  for (const [app, other, channels] of [
    [a, b, ['a1', 'a2']],
    [b, a, ['b1', 'b2']],
  ] as const) {
    const req = byKey.get(app.key);
    assert.ok(req, `no request for ${app.id}`);
    assert.equal(pusherWebhook(req, app).isValid(), true);
    assert.equal(pusherWebhook(req, { ...other, key: app.key }).isValid(), false);
    assert.deepEqual(
      eventsOf(req).map((e) => e.channel),
      channels,
    );
  }
});

test('applies each endpoint’s event filter and channel name filter', async (t) => {
  const receiver = await startReceiver();
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [
    { url: receiver.url('/members'), events: ['member_added', 'member_removed'] },
    { url: receiver.url('/presence'), filter: { channelNamePrefix: 'presence-' } },
    { url: receiver.url('/admin'), events: ['channel_occupied'], filter: { channelNameSuffix: '-admin' } },
    { url: receiver.url('/nothing'), events: ['cache_miss'] },
  ]);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'presence-room' });
  dispatcher.emit(app, { name: 'member_added', channel: 'presence-room', user_id: 'u1' });
  dispatcher.emit(app, { name: 'channel_occupied', channel: 'private-x-admin' });
  dispatcher.emit(app, { name: 'channel_vacated', channel: 'private-y-admin' });
  dispatcher.emit(app, {
    name: 'client_event',
    channel: 'private-chat',
    event: 'client-x',
    data: '{}',
    socket_id: '1.1',
  });
  await receiver.waitFor(3);
  await sleep(CONFIG.batchMs * 3);

  const seen = (path: string): string[][] =>
    receiver.on(path).map((req) => eventsOf(req).map((e) => `${e.name} ${e.channel}`));
  assert.deepEqual(seen('/members'), [['member_added presence-room']]);
  assert.deepEqual(seen('/presence'), [['channel_occupied presence-room', 'member_added presence-room']]);
  assert.deepEqual(seen('/admin'), [['channel_occupied private-x-admin']]);
  assert.deepEqual(seen('/nothing'), []);
  assert.equal(receiver.requests.length, 3);
});

test('wants() says whether any endpoint asked for an event name; unwanted events send nothing', async (t) => {
  const receiver = await startReceiver();
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [
    { url: receiver.url('/a'), events: ['member_added'] },
    { url: receiver.url('/b'), events: ['cache_miss'] },
  ]);

  assert.equal(dispatcher.wants(app, 'member_added'), true);
  assert.equal(dispatcher.wants(app, 'cache_miss'), true);
  assert.equal(dispatcher.wants(app, 'client_event'), false);
  assert.equal(dispatcher.wants(makeApp('none', []), 'member_added'), false);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c' });
  await dispatcher.flush(500);
  await sleep(CONFIG.batchMs * 3);
  assert.equal(receiver.requests.length, 0);
});

test('emit never throws, even on a broken app object', () => {
  const errors: string[] = [];
  const logger = createLogger({ level: 'error', sink: (line) => errors.push(line) });
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger });
  const broken = Object.defineProperty(makeApp('app1', []), 'webhooks', {
    get() {
      throw new Error('boom');
    },
  });
  assert.doesNotThrow(() => dispatcher.emit(broken, { name: 'channel_occupied', channel: 'c' }));
  assert.equal(errors.length, 1);
  dispatcher.close();
});

test('rejects bad settings at construction with a precise message', () => {
  const make = (config: Partial<WebhooksConfig>) => () =>
    new WebhookDispatcher({ config: { ...CONFIG, ...config }, logger: silentLogger });
  assert.throws(make({ timeoutMs: 0 }), { name: 'RangeError', message: 'webhooks.timeoutMs must be a number > 0' });
  assert.throws(make({ batchMs: -1 }), { name: 'RangeError', message: 'webhooks.batchMs must be a number ≥ 0' });
  assert.throws(make({ retryForMs: Number.NaN }), { message: 'webhooks.retryForMs must be a number ≥ 0' });
  assert.throws(make({ maxQueuedBatches: 0 }), { message: 'webhooks.maxQueuedBatches must be an integer ≥ 1' });
});
