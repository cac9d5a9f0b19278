/**
 * Client events through laravel-echo (`whisper` / `listenForWhisper`) and pusher-js: delivered to
 * the other subscribers of private and presence channels, never echoed, `user_id` added on
 * presence channels; refused on public and encrypted channels, when the app disables them, when
 * not subscribed; the per-connection rate limit answers 4301 and keeps the connection.
 */
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connected, echoOn, pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { RawClient, rawConnected, rawSubscribe } from './helpers/ws-raw.js';
import { track } from './helpers/track.js';
import { errorsIn, record } from './helpers/ws-real.js';

async function server(t: TestContext, app: Record<string, unknown> = {}): Promise<TestServer> {
  return track(t, await startTestServer({ apps: [testApp(app)] }));
}

function client(t: TestContext, srv: TestServer, userId?: string): PusherClient {
  const c = pusherClient(
    srv.port,
    userId ? { presence: () => ({ user_id: userId, user_info: { name: userId } }) } : {},
  );
  return track(t, c);
}

async function subscribed(echoChannel: { subscribed(cb: () => void): unknown }): Promise<void> {
  let ok = false;
  echoChannel.subscribed(() => (ok = true));
  await until(() => ok, 'echo channel subscribed');
}

/** A raw socket subscribed to `channel` (signed by the SDK when the channel needs it). */
async function rawListener(
  t: TestContext,
  srv: TestServer,
  channel: string,
  sdk = serverSdk(srv.port),
): Promise<RawClient> {
  const { raw, socketId } = await rawConnected(srv.port);
  track(t, raw);
  if (channel.startsWith('presence-')) {
    const a = sdk.authorizeChannel(socketId, channel, { user_id: 'listener' });
    await rawSubscribe(raw, channel, a.auth, a.channel_data);
  } else if (channel.startsWith('private-')) {
    await rawSubscribe(raw, channel, sdk.authorizeChannel(socketId, channel).auth);
  } else {
    await rawSubscribe(raw, channel);
  }
  return raw;
}

describe('delivery', () => {
  test('Echo whisper on a private channel reaches the other member, never the sender', async (t) => {
    const srv = await server(t);
    const a = client(t, srv);
    const b = client(t, srv);
    const ea = echoOn(a);
    const eb = echoOn(b);
    const gotA: unknown[] = [];
    const gotB: unknown[] = [];
    const cha = ea.private('chat').listenForWhisper('typing', (d: unknown) => gotA.push(d));
    const chb = eb.private('chat').listenForWhisper('typing', (d: unknown) => gotB.push(d));
    await Promise.all([subscribed(cha), subscribed(chb)]);

    cha.whisper('typing', { who: 'a', n: 1 });
    await until(() => gotB.length === 1, 'b got a whisper');
    assert.deepEqual(gotB, [{ who: 'a', n: 1 }]);
    // b answers only after a's whisper went out: had a's been echoed, it would reach a first.
    chb.whisper('typing', { who: 'b' });
    await until(() => gotA.length === 1, 'a got b whisper');
    assert.deepEqual(gotA, [{ who: 'b' }], 'a never received its own whisper');
    assert.deepEqual(gotB, [{ who: 'a', n: 1 }], 'b never received its own whisper');
  });

  test('Echo whisper on a presence channel carries the sender user_id', async (t) => {
    const srv = await server(t);
    const a = client(t, srv, 'alice');
    const b = client(t, srv, 'bob');
    const framesB = record(b);
    const got: Array<{ data: unknown; meta: unknown }> = [];
    const cha = echoOn(a).join('room');
    const chb = echoOn(b)
      .join('room')
      .listenForWhisper(
        'typing',
        ((data: unknown, meta: unknown) => void got.push({ data, meta })) as unknown as (d: unknown) => void,
      );
    await Promise.all([subscribed(cha), subscribed(chb)]);
    cha.whisper('typing', { typing: true });
    await until(() => got.length === 1, 'bob got the whisper');
    assert.deepEqual(got[0], { data: { typing: true }, meta: { user_id: 'alice' } });
    const wire = framesB.find((f) => f.event === 'client-typing')!;
    assert.equal(wire.user_id, 'alice');
    assert.equal(wire.channel, 'presence-room');
  });

  test('a client event sent with a spoofed user_id is delivered with the real one', async (t) => {
    const srv = await server(t);
    const listener = await rawListener(t, srv, 'presence-spoof');
    const { raw, socketId } = await rawConnected(srv.port);
    track(t, raw);
    const auth = serverSdk(srv.port).authorizeChannel(socketId, 'presence-spoof', { user_id: 'mallory' });
    await rawSubscribe(raw, 'presence-spoof', auth.auth, auth.channel_data);
    raw.send({ event: 'client-x', channel: 'presence-spoof', data: { a: 1 }, user_id: 'admin' });
    const f = await listener.next((x) => x.event === 'client-x', 'client event');
    assert.equal(f.user_id, 'mallory');
    assert.deepEqual(f.data, { a: 1 });
  });

  test('a private-channel client event has no user_id', async (t) => {
    const srv = await server(t);
    const listener = await rawListener(t, srv, 'private-nouser');
    const a = client(t, srv);
    const ch = echoOn(a).private('nouser');
    await subscribed(ch);
    ch.whisper('x', { n: 1 });
    const f = await listener.next((x) => x.event === 'client-x', 'client event');
    assert.equal(f.user_id, undefined);
    assert.deepEqual(f.data, { n: 1 });
  });
});

describe('refusals', () => {
  /** `sender` triggers `event` on `channel`; asserts a pusher:error back and nothing at `listener`. */
  async function refused(
    sender: PusherClient,
    listener: RawClient,
    channel: string,
    send: () => void,
  ): Promise<string> {
    const frames = record(sender);
    send();
    await until(() => errorsIn(frames).length === 1, 'pusher:error for the sender');
    await listener.roundTrip(); // anything published before the error would have arrived by now
    assert.equal(
      listener.frames.filter((f) => f.event.startsWith('client-')).length,
      0,
      `nothing delivered on ${channel}`,
    );
    assert.equal(sender.connection.state, 'connected');
    return errorsIn(frames)[0]!.message;
  }

  test('on a public channel', async (t) => {
    const srv = await server(t);
    const listener = await rawListener(t, srv, 'lobby');
    const a = client(t, srv);
    await connected(a);
    const ch = a.subscribe('lobby');
    await until(() => ch.subscribed, 'subscribed');
    const msg = await refused(a, listener, 'lobby', () => ch.trigger('client-hi', { x: 1 }));
    assert.match(msg, /private and presence/);
  });

  test('on a private-encrypted channel', async (t) => {
    const srv = await server(t);
    const sdk = serverSdk(srv.port, { encryptionMasterKeyBase64: randomBytes(32).toString('base64') });
    const listener = await rawListener(t, srv, 'private-encrypted-box', sdk);
    const a = track(t, pusherClient(srv.port, { sdk }));
    await connected(a);
    const ch = a.subscribe('private-encrypted-box');
    await until(() => ch.subscribed, 'subscribed');
    // pusher-js refuses this itself; a modified client can still send the frame.
    assert.throws(() => ch.trigger('client-hi', {}));
    await refused(a, listener, 'private-encrypted-box', () =>
      a.send_event('client-hi', { x: 1 }, 'private-encrypted-box'),
    );
  });

  test('when the app has clientEvents: false', async (t) => {
    const srv = await server(t, { clientEvents: false });
    const listener = await rawListener(t, srv, 'private-quiet');
    const a = client(t, srv);
    const ch = echoOn(a).private('quiet');
    await subscribed(ch);
    const msg = await refused(a, listener, 'private-quiet', () => ch.whisper('typing', {}));
    assert.match(msg, /not enabled/);
  });

  test('when the sender is not subscribed to the channel', async (t) => {
    const srv = await server(t);
    const listener = await rawListener(t, srv, 'private-members');
    const a = client(t, srv);
    await connected(a);
    const msg = await refused(a, listener, 'private-members', () => a.send_event('client-hi', {}, 'private-members'));
    assert.match(msg, /not subscribed/);
  });

  test('after unsubscribing', async (t) => {
    const srv = await server(t);
    const listener = await rawListener(t, srv, 'private-was');
    const a = client(t, srv);
    const echo = echoOn(a);
    const ch = echo.private('was');
    await subscribed(ch);
    echo.leave('was');
    await refused(a, listener, 'private-was', () => a.send_event('client-hi', {}, 'private-was'));
  });

  test('an event name longer than maxEventNameLength', async (t) => {
    const srv = await server(t, { maxEventNameLength: 20 });
    const listener = await rawListener(t, srv, 'private-names');
    const a = client(t, srv);
    const ch = echoOn(a).private('names');
    await subscribed(ch);
    await refused(a, listener, 'private-names', () => ch.whisper('x'.repeat(30), {}));
  });

  test('a payload larger than maxEventPayloadBytes', async (t) => {
    const srv = await server(t, { maxEventPayloadBytes: 1024 });
    const listener = await rawListener(t, srv, 'private-sizes');
    const a = client(t, srv);
    const ch = echoOn(a).private('sizes');
    await subscribed(ch);
    await refused(a, listener, 'private-sizes', () => ch.whisper('big', { blob: 'x'.repeat(2_000) }));
  });

  test('the size is counted in UTF-8 bytes: 600 three-byte characters (1,800 bytes) pass no 1 KiB limit', async (t) => {
    const srv = await server(t, { maxEventPayloadBytes: 1024 });
    const listener = await rawListener(t, srv, 'private-wide');
    const a = client(t, srv);
    const ch = echoOn(a).private('wide');
    await subscribed(ch);
    await refused(a, listener, 'private-wide', () => ch.whisper('wide', { blob: '€'.repeat(600) }));
  });
});

describe('rate limit (maxClientEventsPerSecond: 2)', () => {
  test('excess events are refused with 4301; the connection stays open and later events pass', async (t) => {
    const srv = await server(t, { maxClientEventsPerSecond: 2 });
    const a = client(t, srv);
    const b = client(t, srv);
    const framesA = record(a);
    const gotB: number[] = [];
    const cha = echoOn(a).private('burst');
    const chb = echoOn(b)
      .private('burst')
      .listenForWhisper('n', (d: { i: number }) => gotB.push(d.i));
    await Promise.all([subscribed(cha), subscribed(chb)]);
    const socketId = a.connection.socket_id;

    for (let i = 0; i < 6; i++) cha.whisper('n', { i });
    await until(() => errorsIn(framesA).some((e) => e.code === 4301), '4301 error');
    await until(() => gotB.length >= 2, 'the allowed ones');
    await sleep(100);
    const limited = errorsIn(framesA).filter((e) => e.code === 4301).length;
    assert.ok(gotB.length >= 2 && gotB.length <= 3, `2 (or 3 if a token refilled) delivered, got ${gotB.length}`);
    assert.equal(gotB.length + limited, 6, 'every event is either delivered or refused');
    assert.deepEqual(gotB, [0, 1, 2].slice(0, gotB.length), 'the first ones pass');

    await sleep(1_000); // the bucket refills
    assert.equal(a.connection.state, 'connected');
    assert.equal(a.connection.socket_id, socketId, 'not reconnected');
    cha.whisper('n', { i: 100 });
    await until(() => gotB.includes(100), 'an event after the refill');
  });
});
