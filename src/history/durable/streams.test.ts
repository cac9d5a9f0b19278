/**
 * StoreStreams over fakes: channels in the store go to it (nothing delivered here first), the
 * others go on; an append the store refused is a 503 with one log line per interval.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../config/validate.js';
import { FakeFanout, recordingLogger } from '../../core/fakes.test.helper.js';
import type { ChannelStreams } from '../../core/streams.js';
import { PusherError } from '../../errors.js';
import { HistoryChannels } from '../channels.js';
import { ResumeBudget } from '../budget.js';
import { StoreStreams } from './streams.js';

function setup(append: () => Promise<void>) {
  const config = validateConfig({
    cluster: { driver: 'redis', redis: { url: 'redis://127.0.0.1:1' } },
    apps: [{ id: 'app-id', key: 'k', secret: 's', history: { channels: ['orders'] } }],
  });
  const appended: Array<{ topic: string; except: string | undefined }> = [];
  const passed: string[] = [];
  const next: ChannelStreams = {
    publish: (_a, topic) => void passed.push(topic),
    resume: () => false,
    cancel: () => {},
    waiting: () => 0,
  };
  const { logger, lines } = recordingLogger();
  const streams = new StoreStreams({
    channels: new HistoryChannels(config.apps),
    store: {
      append: (_appId, topic, _frame, except) => {
        appended.push({ topic, except });
        return append();
      },
    },
    resumer: { resume: () => true, cancel: () => {}, waiting: () => 0 },
    budget: new ResumeBudget(),
    next,
    fanout: new FakeFanout(),
    logger,
  });
  return { streams, appended, passed, lines };
}

test('a channel in the store is appended (with the socket to skip); another goes on', async () => {
  const s = setup(async () => {});
  await s.streams.publish('app-id', 'app-id\u0000orders', '{"event":"e","channel":"orders","data":"1"}', 'sock.1');
  assert.equal(s.streams.publish('app-id', 'app-id\u0000news', '{}'), undefined);
  assert.deepEqual(s.appended, [{ topic: 'app-id\u0000orders', except: 'sock.1' }]);
  assert.deepEqual(s.passed, ['app-id\u0000news']);
});

test('an append the store refused is a 503 and one log line for a burst of them', async () => {
  const s = setup(() => Promise.reject(new Error('Socket closed unexpectedly')));
  for (let i = 0; i < 3; i++) {
    await assert.rejects(s.streams.publish('app-id', 'app-id\u0000orders', '{}') as Promise<void>, (err) => {
      assert.ok(err instanceof PusherError);
      assert.equal(err.status, 503);
      assert.match(err.message, /history store did not keep the event/);
      return true;
    });
  }
  const refused = s.lines.filter((l) => String(l.msg).includes('history store refused'));
  assert.equal(refused.length, 1);
  assert.equal(refused[0]!.channel, 'orders');
});
