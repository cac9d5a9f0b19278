/**
 * User authentication through pusher-js: `signin()`, server-to-user events from the SDK's
 * `sendToUser` on every socket of the user, `terminateUserConnections`, watchlist online/offline
 * events, refusals, and the optional sign-in timeout.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connected, pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { rawConnected, rawSubscribe } from './helpers/ws-raw.js';
import { track } from './helpers/track.js';
import { errorsIn, fayeCloseTimerClearer, record } from './helpers/ws-real.js';

async function server(
  t: TestContext,
  raw: Record<string, unknown> = {},
  app: Record<string, unknown> = {},
): Promise<TestServer> {
  return track(t, await startTestServer({ ...raw, apps: [testApp(app)] }));
}

interface UserFacade {
  user_data: { id: string } | null;
  serverToUserChannel: { subscribed: boolean } | null;
  bind(event: string, cb: (data: unknown) => void): void;
  watchlist: { bind(event: 'online' | 'offline', cb: (e: { name: string; user_ids: string[] }) => void): void };
}

const userOf = (c: PusherClient): UserFacade => (c as unknown as { user: UserFacade }).user;

function client(
  t: TestContext,
  srv: TestServer,
  user?: { id: string; watchlist?: string[]; [k: string]: unknown },
  sdk = serverSdk(srv.port),
): PusherClient {
  return track(t, pusherClient(srv.port, user ? { user, sdk } : { sdk }));
}

/** Signs in and waits until the user's #server-to-user channel is subscribed. */
async function signedIn(c: PusherClient): Promise<void> {
  c.signin();
  await until(() => userOf(c).serverToUserChannel?.subscribed === true, 'signed in and #server-to-user subscribed');
}

describe('signin', () => {
  test('pusher-js signin() gets pusher:signin_success with the signed user_data', async (t) => {
    const srv = await server(t);
    const c = client(t, srv, { id: 'alice', name: 'Alice' });
    const successes: unknown[] = [];
    c.bind('pusher:signin_success', (d: unknown) => successes.push(d));
    await connected(c);
    await signedIn(c);
    assert.equal(successes.length, 1);
    assert.deepEqual(JSON.parse((successes[0] as { user_data: string }).user_data), { id: 'alice', name: 'Alice' });
    assert.equal(userOf(c).user_data?.id, 'alice');
  });

  test('signin is refused (4009) when the app disables user authentication; the connection stays', async (t) => {
    const srv = await server(t, {}, { userAuthentication: false });
    const c = client(t, srv, { id: 'alice' });
    const frames = record(c);
    await connected(c);
    c.signin();
    await until(() => errorsIn(frames).length === 1, 'pusher:error');
    assert.equal(errorsIn(frames)[0]!.code, 4009);
    assert.equal(frames.filter((f) => f.event === 'pusher:signin_success').length, 0);
    assert.equal(userOf(c).user_data, null);
    await sleep(100);
    assert.equal(c.connection.state, 'connected');
  });

  test('a signin signed with the wrong secret is refused', async (t) => {
    const srv = await server(t);
    const c = client(t, srv, { id: 'alice' }, serverSdk(srv.port, { secret: 'wrong' }));
    const frames = record(c);
    await connected(c);
    c.signin();
    await until(() => errorsIn(frames).length === 1, 'pusher:error');
    assert.equal(errorsIn(frames)[0]!.code, 4009);
    assert.equal(userOf(c).user_data, null);
  });
});

describe('server-to-user events and termination', () => {
  test('sendToUser reaches every socket of that user and no one else', async (t) => {
    const srv = await server(t);
    const a1 = client(t, srv, { id: 'alice' });
    const a2 = client(t, srv, { id: 'alice' });
    const bob = client(t, srv, { id: 'bob' });
    await Promise.all([a1, a2, bob].map((c) => connected(c)));
    await Promise.all([a1, a2, bob].map((c) => signedIn(c)));
    const got: string[] = [];
    userOf(a1).bind('notice', (d) => got.push(`a1:${JSON.stringify(d)}`));
    userOf(a2).bind('notice', (d) => got.push(`a2:${JSON.stringify(d)}`));
    userOf(bob).bind('notice', (d) => got.push(`bob:${JSON.stringify(d)}`));

    const res = await serverSdk(srv.port).sendToUser('alice', 'notice', { text: 'hello' });
    assert.equal(res.status, 200);
    await until(() => got.length === 2, 'both alice sockets');
    await serverSdk(srv.port).sendToUser('bob', 'notice', { text: 'bob only' });
    await until(() => got.length === 3, 'bob');
    assert.deepEqual(got.sort(), ['a1:{"text":"hello"}', 'a2:{"text":"hello"}', 'bob:{"text":"bob only"}']);
  });

  test('terminateUserConnections closes all of the user’s sockets (4009) and no others', async (t) => {
    const srv = await server(t);
    const a1 = client(t, srv, { id: 'alice' });
    const bob = client(t, srv, { id: 'bob' });
    await Promise.all([connected(a1), connected(bob)]);
    await Promise.all([signedIn(a1), signedIn(bob)]);
    // A second alice socket on the raw wire, to see the close code.
    const { raw, socketId } = await rawConnected(srv.port);
    track(t, raw);
    const userData = JSON.stringify({ id: 'alice' });
    const { auth } = serverSdk(srv.port).authenticateUser(socketId, { id: 'alice' });
    raw.send({ event: 'pusher:signin', data: { auth, user_data: userData } });
    await raw.next((f) => f.event === 'pusher:signin_success', 'raw signin');
    await rawSubscribe(raw, '#server-to-user-alice');

    const clearFayeTimer = fayeCloseTimerClearer(a1);
    const res = await serverSdk(srv.port).terminateUserConnections('alice');
    assert.equal(res.status, 200);
    const closed = await raw.waitClosed();
    assert.equal(closed.code, 4009);
    await until(() => a1.connection.state !== 'connected', 'pusher-js alice disconnected');
    await sleep(1_200); // pusher-js would retry after 1 s if it treated this as a reconnectable close
    assert.notEqual(a1.connection.state, 'connected', 'alice does not reconnect');
    clearFayeTimer();
    assert.equal(bob.connection.state, 'connected');
  });
});

describe('watchlist', () => {
  test('online/offline events for watched users, one user on two sockets counted once', async (t) => {
    const srv = await server(t);
    const erin = client(t, srv, { id: 'erin' });
    await connected(erin);
    await signedIn(erin);

    const carol = client(t, srv, { id: 'carol', watchlist: ['dave', 'erin'] });
    const events: string[] = [];
    const watch = userOf(carol).watchlist;
    watch.bind('online', (e) => events.push(`online:${e.user_ids.join(',')}`));
    watch.bind('offline', (e) => events.push(`offline:${e.user_ids.join(',')}`));
    await connected(carol);
    await signedIn(carol);
    await until(() => events.length === 2, 'initial watchlist state');
    assert.deepEqual(events.sort(), ['offline:dave', 'online:erin']);
    events.length = 0;

    const dave1 = client(t, srv, { id: 'dave' });
    await connected(dave1);
    await signedIn(dave1);
    await until(() => events.length === 1, 'dave online');
    assert.deepEqual(events, ['online:dave']);

    const dave2 = client(t, srv, { id: 'dave' });
    await connected(dave2);
    await signedIn(dave2);
    dave1.disconnect();
    await sleep(150);
    assert.deepEqual(events, ['online:dave'], 'a second socket and its leaving change nothing');

    dave2.disconnect();
    await until(() => events.length === 2, 'dave offline');
    assert.deepEqual(events, ['online:dave', 'offline:dave']);

    erin.disconnect();
    await until(() => events.length === 3, 'erin offline');
    assert.equal(events[2], 'offline:erin');
  });

  test('users not on the watchlist produce no events', async (t) => {
    const srv = await server(t);
    const carol = client(t, srv, { id: 'carol', watchlist: ['dave'] });
    const frames = record(carol);
    await connected(carol);
    await signedIn(carol);
    await until(() => frames.some((f) => f.event === 'pusher_internal:watchlist_events'), 'initial events');
    const stranger = client(t, srv, { id: 'stranger' });
    await connected(stranger);
    await signedIn(stranger);
    stranger.disconnect();
    await sleep(150);
    assert.equal(frames.filter((f) => f.event === 'pusher_internal:watchlist_events').length, 1);
  });
});

describe('sign-in timeout (signinTimeoutMs: 300)', () => {
  test('an unsigned socket is closed with 4009; a signed-in one stays', async (t) => {
    const srv = await server(t, {}, { signinTimeoutMs: 300 });
    const started = Date.now();
    const { raw } = await rawConnected(srv.port);
    track(t, raw);
    const c = client(t, srv, { id: 'alice' });
    await connected(c);
    await signedIn(c);
    const closed = await raw.waitClosed(2_000);
    const after = Date.now() - started;
    assert.equal(closed.code, 4009);
    assert.ok(after >= 250, `not closed before the deadline (${after} ms)`);
    assert.ok(after < 1_500, `closed soon after the deadline (${after} ms)`);
    await sleep(300);
    assert.equal(c.connection.state, 'connected');
  });
});
