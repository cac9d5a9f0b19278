/**
 * The HTTP API over a publisher whose channel stream keeps events in a store (the ChannelStreams
 * port may return a promise): the answer waits for the append, and a failed append is a 500.
 * A publisher that returns nothing is answered at once, as every channel without history is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StaticAppDirectory } from '../apps/directory.js';
import { testConfig } from '../core/fakes.test.helper.js';
import type { ChannelQueries, EventPublisher } from '../core/types.js';
import { silentLogger } from '../log/logger.js';
import { createServerMetrics } from '../metrics/server-metrics.js';
import { signedApiPath } from '../protocol/signature.js';
import type { HttpRequest } from '../transport/types.js';
import { HttpApi } from './router.js';

const NO_QUERIES: ChannelQueries = {
  channels: () => [],
  channel: () => ({ occupied: false, subscriptionCount: 0 }),
  users: () => [],
};

function api(publish: EventPublisher['publish']) {
  const config = testConfig();
  const app = config.apps[0]!;
  const http = new HttpApi({
    apps: new StaticAppDirectory(config.apps),
    queries: NO_QUERIES,
    publisher: { publish, terminateUser() {} },
    metrics: createServerMetrics(),
    logger: silentLogger,
    maxChannelNameLength: 200,
    maxRequestBodyBytes: 100_000,
    isReady: () => true,
  });
  const post = (path: string, body: unknown): HttpRequest => {
    const text = JSON.stringify(body);
    const [p, q] = signedApiPath(app, 'POST', path, text).split('?');
    return {
      method: 'POST',
      path: p!,
      query: q!,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(text),
      remoteAddress: '127.0.0.1',
    };
  };
  return { http, post };
}

test('an event whose append fails answers 500; one kept answers 200 only once kept', async () => {
  let keep!: () => void;
  const kept = new Promise<void>((resolve) => (keep = resolve));
  const { http, post } = api((_app, channel) =>
    channel === 'broken' ? Promise.reject(new Error('store down')) : channel === 'slow' ? kept : undefined,
  );
  const failed = await http.handle(post('/apps/app-id/events', { name: 'e', channels: ['broken'], data: '1' }));
  assert.equal(failed.status, 500);
  let answered = false;
  const pending = http.handle(post('/apps/app-id/events', { name: 'e', channels: ['slow', 'fast'], data: '1' }));
  void pending.then(() => (answered = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(answered, false, 'waits for the append');
  keep();
  assert.equal((await pending).status, 200);
  const batch = await http.handle(
    post('/apps/app-id/batch_events', {
      batch: [
        { name: 'e', channel: 'fast', data: '1' },
        { name: 'e', channel: 'broken', data: '2' },
      ],
    }),
  );
  assert.equal(batch.status, 500);
});

test('a publisher that returns nothing: answered at once', async () => {
  const seen: string[] = [];
  const { http, post } = api((_app, channel) => void seen.push(channel));
  const res = await http.handle(post('/apps/app-id/events', { name: 'e', channels: ['a', 'b'], data: '1' }));
  assert.equal(res.status, 200);
  assert.deepEqual(seen, ['a', 'b']);
});
