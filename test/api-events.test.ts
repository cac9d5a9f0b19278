/**
 * Publishing through the HTTP API with the real `pusher` server SDK, received by real pusher-js
 * clients: one and many channels, exclusion of the sender, `info` in the reply, batches, size
 * limits, events to users, encrypted channels; on every available transport, since delivery and
 * exclusion of the sender happen there. (Keep-alive and body limits: api-http.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connected, pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { availableTransports, sdkJson, sdkRefusal } from './helpers/api-http.js';
import { signedIn, subscribeAndCollect } from './helpers/api-clients.js';

const MAX_PAYLOAD = 8 * 1024;

for (const transport of await availableTransports()) {
  describe(`HTTP API events over the ${transport} transport`, () => {
    let srv: TestServer;
    const clients: PusherClient[] = [];
    function client(opts: Parameters<typeof pusherClient>[1] = {}): PusherClient {
      const c = pusherClient(srv.port, opts);
      clients.push(c);
      return c;
    }

    before(async () => {
      srv = await startTestServer({ transport, apps: [testApp({ maxEventPayloadBytes: MAX_PAYLOAD })] });
      assert.equal(srv.server.transport, transport);
    });
    after(async () => {
      for (const c of clients) c.disconnect();
      await srv.close();
    });

    test('trigger to one channel reaches a pusher-js subscriber with the data as sent', async () => {
      const a = client();
      await connected(a);
      const got = await subscribeAndCollect(a, 'orders');
      const res = await serverSdk(srv.port).trigger('orders', 'order.shipped', { id: 7, items: ['x'] });
      assert.equal(res.status, 200);
      assert.deepEqual(await sdkJson(res), {});
      await until(() => got.length === 1, 'event received');
      assert.deepEqual(got[0], { event: 'order.shipped', data: { id: 7, items: ['x'] } });
    });

    test('trigger to several channels delivers once on each; 100 channels is accepted, 101 refused with 400', async () => {
      const a = client();
      await connected(a);
      const names = ['multi-a', 'multi-b', 'multi-c'];
      const got = await Promise.all(names.map((n) => subscribeAndCollect(a, n)));
      await serverSdk(srv.port).trigger(names, 'fanout', { n: 1 });
      await until(() => got.every((g) => g.length === 1), 'one event on each channel');
      for (const g of got) assert.deepEqual(g, [{ event: 'fanout', data: { n: 1 } }]);

      const hundred = Array.from({ length: 100 }, (_, i) => `many-${i}`);
      const ok = await serverSdk(srv.port).trigger(hundred, 'many', {});
      assert.equal(ok.status, 200);

      // The SDK itself refuses 101 channels before sending, so post the same body it would build.
      const sdk = serverSdk(srv.port);
      const body = { name: 'many', data: '{}', channels: [...hundred, 'many-100'] };
      const err = await sdkRefusal(sdk.post({ path: '/events', body: body as never }), 400);
      assert.match(String(err.body), /at most 100 channels/i);
    });

    test('socket_id excludes that connection only', async () => {
      const sender = client();
      const other = client();
      const [senderId] = await Promise.all([connected(sender), connected(other)]);
      const fromSender = await subscribeAndCollect(sender, 'excl');
      const fromOther = await subscribeAndCollect(other, 'excl');
      const sdk = serverSdk(srv.port);
      await sdk.trigger('excl', 'first', { n: 1 }, { socket_id: senderId });
      await sdk.trigger('excl', 'second', { n: 2 });
      await until(() => fromOther.length === 2 && fromSender.length === 1, 'both events delivered');
      assert.deepEqual(
        fromOther.map((e) => e.event),
        ['first', 'second'],
      );
      // Delivery is in order per connection: `second` arrived, so `first` was skipped, not late.
      assert.deepEqual(
        fromSender.map((e) => e.event),
        ['second'],
      );
    });

    test("trigger with info='subscription_count,user_count' reports counts per channel", async () => {
      const alice1 = client({ presence: () => ({ user_id: 'alice' }) });
      const alice2 = client({ presence: () => ({ user_id: 'alice' }) });
      const bob = client({ presence: () => ({ user_id: 'bob' }) });
      await Promise.all([connected(alice1), connected(alice2), connected(bob)]);
      for (const c of [alice1, alice2, bob]) await subscribeAndCollect(c, 'presence-info');
      await subscribeAndCollect(bob, 'info-public');

      const res = await serverSdk(srv.port).trigger(
        ['presence-info', 'info-public', 'info-empty'],
        'x',
        {},
        {
          info: 'subscription_count,user_count',
        },
      );
      assert.deepEqual(await sdkJson(res), {
        channels: {
          'presence-info': { subscription_count: 3, user_count: 2 },
          'info-public': { subscription_count: 1 },
          'info-empty': { subscription_count: 0 },
        },
      });
    });

    test('triggerBatch delivers every event in order; 10 accepted, 11 refused whole with 400', async () => {
      const a = client();
      await connected(a);
      const one = await subscribeAndCollect(a, 'batch-one');
      const two = await subscribeAndCollect(a, 'batch-two');
      const sdk = serverSdk(srv.port);
      const batch = Array.from({ length: 10 }, (_, i) => ({
        channel: i % 2 ? 'batch-two' : 'batch-one',
        name: `e${i}`,
        data: { i },
      }));
      const res = await sdk.triggerBatch(batch);
      assert.equal(res.status, 200);
      await until(() => one.length + two.length === 10, 'ten events');
      assert.deepEqual(
        one.map((e) => e.event),
        ['e0', 'e2', 'e4', 'e6', 'e8'],
      );
      assert.deepEqual(
        two.map((e) => e.data),
        [{ i: 1 }, { i: 3 }, { i: 5 }, { i: 7 }, { i: 9 }],
      );

      const eleven = Array.from({ length: 11 }, (_, i) => ({ channel: 'batch-one', name: `late${i}`, data: {} }));
      const err = await sdkRefusal(sdk.triggerBatch(eleven), 400);
      assert.match(String(err.body), /at most 10 events/i);
      // Refused whole: a later event arrives and nothing of the refused batch came before it.
      await sdk.trigger('batch-one', 'after', {});
      await until(() => one.length === 6, 'the event after the refused batch');
      assert.equal(one[5]?.event, 'after');
    });

    test('triggerBatch with info answers per event', async () => {
      const a = client();
      await connected(a);
      await subscribeAndCollect(a, 'batch-info');
      const res = await serverSdk(srv.port).triggerBatch([
        { channel: 'batch-info', name: 'a', data: {}, info: 'subscription_count' },
        { channel: 'batch-nobody', name: 'b', data: {} },
      ]);
      assert.deepEqual(await sdkJson(res), { batch: [{ subscription_count: 1 }, {}] });
    });

    test('event data over maxEventPayloadBytes is refused with 413; exactly at the limit is accepted', async () => {
      const sdk = serverSdk(srv.port);
      const atLimit = 'x'.repeat(MAX_PAYLOAD);
      assert.equal((await sdk.trigger('big', 'ok', atLimit)).status, 200);
      const err = await sdkRefusal(sdk.trigger('big', 'too-big', 'x'.repeat(MAX_PAYLOAD + 1)), 413);
      assert.match(String(err.body), /more than the 8192 allowed/);
      await sdkRefusal(sdk.triggerBatch([{ channel: 'big', name: 'b', data: 'y'.repeat(MAX_PAYLOAD + 1) }]), 413);
    });

    test('an event to several channels may not include an encrypted one (400)', async () => {
      const body = { name: 'e', data: '{}', channels: ['private-encrypted-a', 'public-b'] };
      const err = await sdkRefusal(serverSdk(srv.port).post({ path: '/events', body: body as never }), 400);
      assert.match(String(err.body), /encrypted channel must have exactly one channel/);
    });

    test('authorizeChannel signatures are accepted for private and presence channels; a wrong secret is refused', async () => {
      const a = client({ presence: () => ({ user_id: 'signed-user', user_info: { name: 'S' } }) });
      await connected(a);
      const priv = await subscribeAndCollect(a, 'private-room');
      await subscribeAndCollect(a, 'presence-room-auth');
      await serverSdk(srv.port).trigger('private-room', 'hello', { ok: true });
      await until(() => priv.length === 1, 'private event');

      const forger = client({ sdk: serverSdk(srv.port, { secret: 'not-the-secret' }) });
      await connected(forger);
      const ch = forger.subscribe('private-room') as unknown as {
        bind(e: string, cb: (d: unknown) => void): void;
        subscribed: boolean;
      };
      let error: { status?: number } | undefined;
      ch.bind('pusher:subscription_error', (e) => (error = e as { status?: number }));
      await until(() => error !== undefined, 'subscription refused');
      assert.equal(error?.status, 401);
      assert.equal(ch.subscribed, false);
    });

    test('authenticateUser: signin succeeds, sendToUser reaches only that user', async () => {
      const dave = client({ user: { id: 'dave', name: 'Dave' } });
      const erin = client({ user: { id: 'erin' } });
      await Promise.all([connected(dave), connected(erin)]);
      const toDave: unknown[] = [];
      const toErin: unknown[] = [];
      await Promise.all([signedIn(dave), signedIn(erin)]);
      dave.user.bind('notice', (d: unknown) => toDave.push(d));
      erin.user.bind('notice', (d: unknown) => toErin.push(d));
      const sdk = serverSdk(srv.port);
      const res = await sdk.sendToUser('dave', 'notice', { text: 'for dave' });
      assert.equal(res.status, 200);
      await sdk.sendToUser('erin', 'notice', { text: 'for erin' });
      await until(() => toDave.length === 1 && toErin.length === 1, 'both users got their notice');
      assert.deepEqual(toDave, [{ text: 'for dave' }]);
      assert.deepEqual(toErin, [{ text: 'for erin' }]);
    });

    test('encrypted channel: the SDK encrypts with encryptionMasterKeyBase64, pusher-js decrypts', async () => {
      const sdk = serverSdk(srv.port, { encryptionMasterKeyBase64: randomBytes(32).toString('base64') });
      const a = client({ sdk });
      await connected(a);
      const got = await subscribeAndCollect(a, 'private-encrypted-vault');
      await sdk.trigger('private-encrypted-vault', 'secret', { code: 'open sesame' });
      await until(() => got.length === 1, 'decrypted event');
      assert.deepEqual(got[0], { event: 'secret', data: { code: 'open sesame' } });
      // What travelled through the server was ciphertext: a client with another master key cannot read it.
      const other = client({
        sdk: serverSdk(srv.port, { encryptionMasterKeyBase64: randomBytes(32).toString('base64') }),
      });
      await connected(other);
      const wrong = await subscribeAndCollect(other, 'private-encrypted-vault');
      await sdk.trigger('private-encrypted-vault', 'secret', { code: 'again' });
      await until(() => got.length === 2, 'second decrypted event');
      await sleep(100);
      assert.deepEqual(wrong, []);
    });
  });
}
