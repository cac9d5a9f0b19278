/**
 * Channels through pusher-js and laravel-echo: public, private, private-encrypted (end-to-end
 * encryption with the SDK's master key), cache channels, unsubscribe, and refusals (invalid names,
 * bad or missing auth, other users' #server-to-user channels).
 */
import { randomBytes } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connected, echoOn, pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { RawClient, errorData, rawConnected, rawSubscribe } from './helpers/ws-raw.js';
import { track } from './helpers/track.js';
import { record, subscribeOutcome, untilAsync } from './helpers/ws-real.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv.close();
});

function client(t: TestContext, opts: Parameters<typeof pusherClient>[1] = {}): PusherClient {
  return track(t, pusherClient(srv.port, opts));
}

async function raw(t: TestContext): Promise<{ raw: RawClient; socketId: string }> {
  const r = await rawConnected(srv.port);
  track(t, r.raw);
  return r;
}

async function channelInfo(channel: string): Promise<{ occupied: boolean; subscription_count?: number }> {
  const res = await serverSdk(srv.port).get({ path: `/channels/${channel}`, params: { info: 'subscription_count' } });
  return (await res.json()) as { occupied: boolean; subscription_count?: number };
}

describe('public and private channels', () => {
  test('pusher-js on a public channel receives SDK events with their data', async (t) => {
    const c = client(t);
    await connected(c);
    const got: unknown[] = [];
    const ch = c.subscribe('updates');
    ch.bind('tick', (d: unknown) => got.push(d));
    await until(() => ch.subscribed, 'subscribed');
    await serverSdk(srv.port).trigger('updates', 'tick', { n: 1, s: 'ü€' });
    await serverSdk(srv.port).trigger('updates', 'other', { n: 2 });
    await serverSdk(srv.port).trigger('updates', 'tick', 'plain string');
    await until(() => got.length === 2, 'two tick events');
    assert.deepEqual(got, [{ n: 1, s: 'ü€' }, 'plain string']);
  });

  test('laravel-echo on a private channel: authorized, and Laravel event names are namespaced', async (t) => {
    const c = client(t);
    const echo = echoOn(c);
    const got: unknown[] = [];
    const ch = echo.private('orders.1');
    ch.listen('OrderShipped', (e: unknown) => got.push(['namespaced', e]));
    ch.listen('.raw-name', (e: unknown) => got.push(['raw', e]));
    let subscribed = false;
    ch.subscribed(() => (subscribed = true));
    await until(() => subscribed, 'private channel subscribed');
    const sdk = serverSdk(srv.port);
    await sdk.trigger('private-orders.1', 'App\\Events\\OrderShipped', { id: 1 });
    await sdk.trigger('private-orders.1', 'raw-name', { id: 2 });
    await until(() => got.length === 2, 'both events');
    assert.deepEqual(got, [
      ['namespaced', { id: 1 }],
      ['raw', { id: 2 }],
    ]);
  });

  test('an event is not delivered to a socket excluded by socket_id (Laravel toOthers)', async (t) => {
    const a = client(t);
    const b = client(t);
    const [ida] = await Promise.all([connected(a), connected(b)]);
    const got: string[] = [];
    const cha = a.subscribe('room-1');
    const chb = b.subscribe('room-1');
    cha.bind('said', () => got.push('a'));
    chb.bind('said', () => got.push('b'));
    await until(() => cha.subscribed && chb.subscribed, 'both subscribed');
    await serverSdk(srv.port).trigger('room-1', 'said', {}, { socket_id: ida });
    await serverSdk(srv.port).trigger('room-1', 'said', {});
    await until(() => got.length === 3, 'three deliveries');
    assert.deepEqual(got.sort(), ['a', 'b', 'b']);
  });

  test('unsubscribe stops delivery on that channel only', async (t) => {
    const c = client(t);
    await connected(c);
    const got: string[] = [];
    const gone = c.subscribe('leaving-soon');
    const kept = c.subscribe('staying');
    gone.bind('e', () => got.push('gone'));
    kept.bind('e', () => got.push('kept'));
    await until(() => gone.subscribed && kept.subscribed, 'subscribed');
    await serverSdk(srv.port).trigger(['leaving-soon', 'staying'], 'e', {});
    await until(() => got.length === 2, 'both delivered while subscribed');
    c.unsubscribe('leaving-soon');
    // The server has processed the unsubscribe once the channel is vacated.
    await untilAsync(async () => !(await channelInfo('leaving-soon')).occupied, 'channel vacated');
    // pusher-js drops events for channels it no longer knows, so watch the wire instead.
    const frames = record(c);
    await serverSdk(srv.port).trigger(['leaving-soon', 'staying'], 'e', {});
    await until(() => got.length === 3, 'delivered on the kept channel');
    assert.deepEqual(got, ['gone', 'kept', 'kept']);
    assert.equal(frames.filter((f) => f.channel === 'leaving-soon').length, 0, 'nothing sent for the left channel');
  });
});

describe('private-encrypted channels', () => {
  test('pusher-js decrypts SDK events; the frame on the wire does not contain the plaintext', async (t) => {
    const masterKey = randomBytes(32).toString('base64');
    const sdk = serverSdk(srv.port, { encryptionMasterKeyBase64: masterKey });
    const c = client(t, { sdk });
    await connected(c);
    const channel = 'private-encrypted-vault';
    const got: unknown[] = [];
    const ch = c.subscribe(channel);
    ch.bind('secret', (d: unknown) => got.push(d));
    await until(() => ch.subscribed, 'encrypted channel subscribed');

    const { raw: wire, socketId } = await raw(t);
    await rawSubscribe(wire, channel, sdk.authorizeChannel(socketId, channel).auth);

    const marker = 'plaintext-marker-7f3a';
    await sdk.trigger(channel, 'secret', { text: marker });
    await until(() => got.length === 1, 'decrypted event');
    assert.deepEqual(got[0], { text: marker });

    const onWire = await wire.next((f) => f.event === 'secret', 'encrypted frame');
    const text = wire.texts.find((t) => t.includes('"secret"'))!;
    assert.ok(!text.includes(marker), 'plaintext is not on the wire');
    const payload = JSON.parse(onWire.data as string) as { nonce?: string; ciphertext?: string };
    assert.equal(typeof payload.nonce, 'string');
    assert.equal(typeof payload.ciphertext, 'string');
  });

  test('subscribing to an encrypted channel needs a valid auth', async (t) => {
    const { raw: r } = await raw(t);
    r.send({ event: 'pusher:subscribe', data: { channel: 'private-encrypted-vault' } });
    const f = await r.next((x) => x.event === 'pusher:subscription_error', 'subscription_error');
    assert.equal(f.channel, 'private-encrypted-vault');
    assert.equal((f.data as { status: number }).status, 401);
  });
});

describe('cache channels', () => {
  const channels = ['cache-prices', 'private-cache-prices', 'presence-cache-prices'];
  for (const channel of channels) {
    test(`${channel}: cache_miss before any event; a new subscriber gets the last event at once`, async (t) => {
      const first = client(t);
      await connected(first);
      const firstFrames = record(first);
      const ch = first.subscribe(channel);
      const missed: unknown[] = [];
      const got: unknown[] = [];
      ch.bind('pusher:cache_miss', (d: unknown) => missed.push(d ?? null));
      ch.bind('price', (d: unknown) => got.push(d));
      await until(() => missed.length === 1, 'cache_miss');
      assert.ok(ch.subscribed);

      const sdk = serverSdk(srv.port);
      await sdk.trigger(channel, 'price', { v: 1 });
      await sdk.trigger(channel, 'price', { v: 2 });
      await until(() => got.length === 2, 'live events');

      const second = client(t);
      await connected(second);
      const secondFrames = record(second);
      const ch2 = second.subscribe(channel);
      const got2: unknown[] = [];
      const missed2: unknown[] = [];
      ch2.bind('price', (d: unknown) => got2.push(d));
      ch2.bind('pusher:cache_miss', () => missed2.push(1));
      await until(() => got2.length === 1, 'replayed event');
      assert.deepEqual(got2, [{ v: 2 }], 'only the last event is replayed');
      assert.deepEqual(missed2, []);
      const onChannel = secondFrames.filter((f) => f.channel === channel).map((f) => f.event);
      assert.deepEqual(
        onChannel.slice(0, 2),
        ['pusher_internal:subscription_succeeded', 'price'],
        'replayed right after subscribing',
      );
      await sleep(50);
      assert.equal(got.length, 2, 'the replay goes to the new subscriber only');
      assert.equal(firstFrames.filter((f) => f.event === 'pusher:cache_miss').length, 1);
    });
  }

  test('a non-cache channel never sends cache_miss nor replays', async (t) => {
    const sdk = serverSdk(srv.port);
    await sdk.trigger('prices', 'price', { v: 1 });
    const c = client(t);
    await connected(c);
    const frames = record(c);
    const ch = c.subscribe('prices');
    await until(() => ch.subscribed, 'subscribed');
    await sleep(50);
    assert.deepEqual(
      frames.filter((f) => f.channel === 'prices').map((f) => f.event),
      ['pusher_internal:subscription_succeeded'],
    );
  });
});

describe('refusals', () => {
  test('invalid channel names are refused with a subscription error; the connection stays', async (t) => {
    const c = client(t);
    await connected(c);
    for (const name of ['has space', 'bad$char', 'x'.repeat(165), 'ümlaut']) {
      const out = await subscribeOutcome(c, name);
      assert.equal(out.ok, false, `${name.slice(0, 20)} refused`);
      if (!out.ok) {
        assert.equal(out.error.status, 400);
        assert.equal(out.error.code, 4302);
      }
      c.unsubscribe(name);
    }
    assert.equal(c.connection.state, 'connected');
    // A valid name still works on the same connection.
    assert.deepEqual(await subscribeOutcome(c, 'valid-name_1=@,.;'), { ok: true });
  });

  test('a subscribe frame without a string channel is a pusher:error 4302', async (t) => {
    const { raw: r } = await raw(t);
    r.send({ event: 'pusher:subscribe', data: { channel: 42 } });
    const f = await r.next((x) => x.event === 'pusher:error', 'pusher:error');
    assert.equal(errorData(f).code, 4302);
    await r.roundTrip();
    assert.ok(r.isOpen);
  });

  test('Echo .error() fires for a private channel signed with the wrong secret', async (t) => {
    const c = client(t, { sdk: serverSdk(srv.port, { secret: 'not-the-secret' }) });
    const echo = echoOn(c);
    const errors: Array<{ status?: number; code?: number }> = [];
    let subscribed = false;
    echo
      .private('payroll')
      .subscribed(() => (subscribed = true))
      .error((e: { status?: number; code?: number }) => errors.push(e));
    await until(() => errors.length === 1, 'error callback');
    assert.equal(errors[0]!.status, 401);
    assert.equal(errors[0]!.code, 4009);
    assert.equal(subscribed, false);
    assert.equal(c.connection.state, 'connected', 'a refused subscription does not close the connection');
  });

  test('Echo .error() fires for a presence channel signed with the wrong secret', async (t) => {
    const c = client(t, {
      sdk: serverSdk(srv.port, { secret: 'not-the-secret' }),
      presence: () => ({ user_id: 'mallory' }),
    });
    const errors: unknown[] = [];
    echoOn(c)
      .join('staff')
      .error((e: unknown) => errors.push(e));
    await until(() => errors.length === 1, 'error callback');
    assert.equal((errors[0] as { status: number }).status, 401);
  });

  test('pusher-js gets pusher:subscription_error when its auth endpoint fails; nothing is sent', async (t) => {
    const c = client(t, {
      presence: () => {
        throw new Error('forbidden by the app');
      },
    });
    const frames = record(c);
    // Subscribing before the connection is up: this test's auth handler answers synchronously,
    // and pusher-js would raise the error before the listener is bound.
    const out = await subscribeOutcome(c, 'presence-forbidden');
    assert.equal(out.ok, false);
    if (!out.ok) assert.match(String(out.error.error), /forbidden by the app/);
    assert.equal(
      frames.some((f) => f.channel === 'presence-forbidden'),
      false,
      'the server never answered for it',
    );
    assert.deepEqual((await channelInfo('presence-forbidden')).occupied, false);
  });

  test('an auth signed for another socket, or for another channel, is refused', async (t) => {
    const sdk = serverSdk(srv.port);
    const { raw: a, socketId: ida } = await raw(t);
    const { raw: b } = await raw(t);
    const stolen = sdk.authorizeChannel(ida, 'private-x').auth;
    b.send({ event: 'pusher:subscribe', data: { channel: 'private-x', auth: stolen } });
    const fb = await b.next((x) => x.event === 'pusher:subscription_error', 'refused on the other socket');
    assert.equal((fb.data as { status: number }).status, 401);
    a.send({ event: 'pusher:subscribe', data: { channel: 'private-y', auth: stolen } });
    await a.next(
      (x) => x.event === 'pusher:subscription_error' && x.channel === 'private-y',
      'refused for the other channel',
    );
    await rawSubscribe(a, 'private-x', stolen); // and accepted where it belongs
  });

  test('presence channel_data must match the signature', async (t) => {
    const sdk = serverSdk(srv.port);
    const { raw: r, socketId } = await raw(t);
    const auth = sdk.authorizeChannel(socketId, 'presence-p', { user_id: 'alice' });
    r.send({
      event: 'pusher:subscribe',
      data: { channel: 'presence-p', auth: auth.auth, channel_data: JSON.stringify({ user_id: 'admin' }) },
    });
    const f = await r.next((x) => x.event === 'pusher:subscription_error', 'refused');
    assert.equal((f.data as { status: number }).status, 401);
    await rawSubscribe(r, 'presence-p', auth.auth, auth.channel_data);
  });

  test('a #server-to-user channel is refused unless signed in as that user', async (t) => {
    const { raw: r } = await raw(t);
    r.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-alice' } });
    const f = await r.next((x) => x.event === 'pusher:subscription_error', 'refused');
    assert.equal(f.channel, '#server-to-user-alice');
    // Nothing published to alice reaches this socket.
    await serverSdk(srv.port).sendToUser('alice', 'note', {});
    await r.roundTrip();
    assert.equal(r.frames.filter((x) => x.event === 'note').length, 0);
  });
});
