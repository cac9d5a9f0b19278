import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhooksConfig } from '../config/schema.js';
import { createLogger, silentLogger } from '../log/logger.js';
import { WebhookDispatcher } from './dispatcher.js';
import {
  eventsOf,
  eventually,
  makeApp,
  pusherWebhook,
  RecordingObserver,
  startReceiver,
  TEST_WEBHOOKS,
  type Received,
} from './receiver.test.helper.js';

const CONFIG: WebhooksConfig = { ...TEST_WEBHOOKS, batchMs: 10, timeoutMs: 200 };
/** random() = 0.5 gives the exact exponential delays: base, 2×base, 4×base … */
const backoff = (baseMs: number) => ({ baseMs, random: () => 0.5 });
const channels = (reqs: { rawBody: string }[]): unknown[] => reqs.map((req) => eventsOf(req)[0]?.channel);

function warnLog(): { logger: ReturnType<typeof createLogger>; messages: string[] } {
  const messages: string[] = [];
  const logger = createLogger({
    level: 'warn',
    sink: (line) => messages.push((JSON.parse(line) as { msg: string }).msg),
  });
  return { logger, messages };
}

test('retries after a 500 with backoff, then delivers the same signed body', async (t) => {
  const receiver = await startReceiver((_req, nth) => (nth === 0 ? 500 : 200));
  const observer = new RecordingObserver();
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger, observer, backoff: backoff(80) });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/hook') }]);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c1' });
  const [first, second] = (await receiver.waitFor(2)) as [Received, Received];
  await eventually(() => observer.sends.length === 2, 'second attempt not observed');

  assert.ok(second.at - first.at >= 75, `retried after ${second.at - first.at} ms, expected ≥ 80`);
  assert.equal(second.rawBody, first.rawBody);
  assert.equal(pusherWebhook(second, app).isValid(), true);
  assert.deepEqual(observer.sends, [
    ['app1', false, 1],
    ['app1', true, 2],
  ]);
});

test('retries when the endpoint does not answer within timeoutMs', async (t) => {
  const receiver = await startReceiver((_req, nth) => (nth === 0 ? 'hang' : 200));
  const observer = new RecordingObserver();
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger, observer, backoff: backoff(20) });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/hook') }]);

  dispatcher.emit(app, { name: 'member_added', channel: 'presence-x', user_id: 'u1' });
  const [first, second] = (await receiver.waitFor(2)) as [Received, Received];
  await eventually(() => observer.sends.length === 2, 'second attempt not observed');

  assert.ok(second.at - first.at >= CONFIG.timeoutMs, `retried after ${second.at - first.at} ms, before the timeout`);
  assert.equal(pusherWebhook(second, app).isValid(), true);
  assert.deepEqual(observer.sends, [
    ['app1', false, 1],
    ['app1', true, 2],
  ]);
});

test('after a failure a new batch goes before the one being retried, which follows once the endpoint answers', async (t) => {
  const receiver = await startReceiver((req, nth) => (req.path === '/slow' && nth < 2 ? 500 : 200));
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger, backoff: backoff(300) });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/slow') }, { url: receiver.url('/fast') }]);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c1' });
  // c1 fails twice (at 0 and after 300 ms): its next retry would wait 600 ms.
  await receiver.waitFor(2, { path: '/slow' });
  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c2' });
  await receiver.waitFor(4, { path: '/slow' });
  await sleep(50);

  assert.deepEqual(channels(receiver.on('/slow')), ['c1', 'c1', 'c2', 'c1']);
  // The other endpoint of the same app is not held back by the failing one.
  assert.deepEqual(channels(receiver.on('/fast')), ['c1', 'c2']);
  const slow = receiver.on('/slow') as [Received, Received, Received, Received];
  const paced = slow[2].at - slow[1].at;
  assert.ok(paced >= 250, `a new batch was tried ${paced} ms after a failure (at most once per baseMs, 300 ms)`);
  const followed = slow[3].at - slow[2].at;
  assert.ok(followed < 250, `the retried batch came ${followed} ms after the endpoint answered again, not at once`);
});

test('drops a batch with observer.dropped once retryForMs has passed, then goes on', async (t) => {
  let healthy = false;
  const receiver = await startReceiver(() => (healthy ? 200 : 500));
  const observer = new RecordingObserver();
  const { logger, messages } = warnLog();
  const config = { ...CONFIG, retryForMs: 250 };
  const dispatcher = new WebhookDispatcher({ config, logger, observer, backoff: backoff(50) });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/hook') }]);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c1' });
  dispatcher.emit(app, { name: 'channel_vacated', channel: 'c0' });
  const started = performance.now();
  await eventually(() => observer.drops.length === 1, 'batch never dropped');
  const elapsed = performance.now() - started;

  // Attempts at 0, 50 and 150 ms; the next (after 200 ms more) would start past 250 ms.
  assert.deepEqual(observer.drops, [['app1', 2, 'expired']]);
  assert.equal(receiver.requests.length, 3);
  assert.ok(elapsed < config.retryForMs + 200, `dropped after ${elapsed} ms`);
  assert.ok(messages.includes('webhook batch dropped: endpoint kept failing'), messages.join('\n'));

  healthy = true;
  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c2' });
  await receiver.waitFor(4);
  assert.deepEqual(channels(receiver.requests.slice(3)), ['c2']);
});

test('drops the oldest waiting batch when the queue is full', async (t) => {
  const receiver = await startReceiver((_req, nth) => (nth === 0 ? 500 : 200));
  const observer = new RecordingObserver();
  const { logger, messages } = warnLog();
  const config = { ...CONFIG, maxQueuedBatches: 1 };
  const dispatcher = new WebhookDispatcher({ config, logger, observer, backoff: backoff(200) });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/hook') }]);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c1' });
  await receiver.waitFor(1);
  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c2' });
  await sleep(CONFIG.batchMs * 3);
  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c3' });
  await receiver.waitFor(2);
  await sleep(50);

  // c1 (retrying) makes room for c2, c2 for c3: the oldest go first, retries before new ones.
  assert.deepEqual(channels(receiver.requests), ['c1', 'c3']);
  assert.deepEqual(observer.drops, [
    ['app1', 1, 'queue_full'],
    ['app1', 1, 'queue_full'],
  ]);
  const full = messages.filter((m) => m.startsWith('webhook queue full'));
  assert.equal(full.length, 1, `logged once per episode: ${messages.join('\n')}`);
});
