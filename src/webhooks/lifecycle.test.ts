import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, silentLogger } from '../log/logger.js';
import { WebhookDispatcher } from './dispatcher.js';
import {
  eventsOf,
  eventually,
  makeApp,
  RecordingObserver,
  startReceiver,
  TEST_WEBHOOKS,
} from './receiver.test.helper.js';

const CONFIG = TEST_WEBHOOKS;

test('flush sends pending events at once and waits for their delivery', async (t) => {
  const receiver = await startReceiver();
  const dispatcher = new WebhookDispatcher({ config: { ...CONFIG, batchMs: 60_000 }, logger: silentLogger });
  t.after(() => dispatcher.close());
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/hook') }]);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c1' });
  dispatcher.emit(app, { name: 'channel_vacated', channel: 'c2' });
  const started = performance.now();
  await dispatcher.flush(1_000);

  assert.ok(performance.now() - started < 1_000, 'flush waited for the batch window or its deadline');
  assert.equal(receiver.requests.length, 1);
  assert.deepEqual(
    eventsOf(receiver.requests[0]!).map((e) => e.name),
    ['channel_occupied', 'channel_vacated'],
  );
});

for (const when of ['in flight', 'waiting in backoff'] as const) {
  test(`flush retries a failing batch right away (first attempt ${when})`, async (t) => {
    // The first answer is late, so a flush right after the request arrives finds it in flight.
    const receiver = await startReceiver((_req, nth) => (nth === 0 ? { status: 500, afterMs: 50 } : 200));
    const observer = new RecordingObserver();
    const config = { ...CONFIG, retryForMs: 120_000 };
    const dispatcher = new WebhookDispatcher({ config, logger: silentLogger, observer, backoff: { baseMs: 30_000 } });
    t.after(() => dispatcher.close());
    t.after(() => receiver.close());
    const app = makeApp('app1', [{ url: receiver.url('/hook') }]);

    dispatcher.emit(app, { name: 'channel_occupied', channel: 'c1' });
    await receiver.waitFor(1);
    if (when === 'in flight') assert.equal(observer.sends.length, 0);
    if (when === 'waiting in backoff')
      await eventually(() => observer.sends.length === 1, 'first attempt not observed');
    await dispatcher.flush(1_000);

    assert.equal(receiver.requests.length, 2);
    assert.deepEqual(observer.sends, [
      ['app1', false, 1],
      ['app1', true, 2],
    ]);
  });
}

test('flush gives up at its deadline; close() aborts the request in flight', async (t) => {
  const receiver = await startReceiver(() => 'hang');
  const warnings: string[] = [];
  const logger = createLogger({
    level: 'warn',
    sink: (line) => warnings.push((JSON.parse(line) as { msg: string }).msg),
  });
  const dispatcher = new WebhookDispatcher({ config: { ...CONFIG, timeoutMs: 10_000 }, logger });
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/hook') }]);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c1' });
  const started = performance.now();
  await dispatcher.flush(100);
  const waited = performance.now() - started;
  assert.ok(waited >= 90 && waited < 1_000, `flush took ${waited} ms`);
  assert.equal(receiver.requests[0]!.abandoned, false);
  dispatcher.close();
  await eventually(() => receiver.requests[0]!.abandoned, 'close() did not abort the request in flight', 500);

  assert.deepEqual(warnings, [
    'webhook flush deadline passed with batches undelivered',
    'webhook dispatcher closed with undelivered events',
  ]);
});

test('close() stops the batch timer; emit after close is a no-op', async (t) => {
  const receiver = await startReceiver();
  const dispatcher = new WebhookDispatcher({ config: CONFIG, logger: silentLogger });
  t.after(() => receiver.close());
  const app = makeApp('app1', [{ url: receiver.url('/hook') }]);

  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c1' });
  dispatcher.close();
  dispatcher.emit(app, { name: 'channel_occupied', channel: 'c2' });
  await sleep(CONFIG.batchMs * 3);
  assert.equal(receiver.requests.length, 0);
});
