/**
 * Channel queries and user commands through the real `pusher` SDK: /channels (prefix filter and
 * info), /channels/{name}, /channels/{name}/users, terminate_connections.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connected, pusherClient, serverSdk, until, type PusherClient } from './helpers/clients.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { eventually, sdkJson, sdkRefusal } from './helpers/api-http.js';
import { closeCodes, signedIn, subscribeAndCollect } from './helpers/api-clients.js';
import { rawSocketId, rawWs } from './helpers/api-rawws.js';

let srv: TestServer;
const clients: PusherClient[] = [];
function client(opts: Parameters<typeof pusherClient>[1] = {}): PusherClient {
  const c = pusherClient(srv.port, opts);
  clients.push(c);
  return c;
}

before(async () => {
  srv = await startTestServer();
  // Fixture: alice twice and bob in presence-lobby, one socket in presence-empty-soon,
  // public channels news (2 sockets) and sports (1), private-ops (1).
  const alice1 = client({ presence: () => ({ user_id: 'alice', user_info: { name: 'Alice' } }) });
  const alice2 = client({ presence: () => ({ user_id: 'alice', user_info: { name: 'Alice' } }) });
  const bob = client({ presence: () => ({ user_id: 'bob' }) });
  await Promise.all([alice1, alice2, bob].map((c) => connected(c)));
  for (const c of [alice1, alice2, bob]) await subscribeAndCollect(c, 'presence-lobby');
  await subscribeAndCollect(alice1, 'news');
  await subscribeAndCollect(bob, 'news');
  await subscribeAndCollect(bob, 'sports');
  await subscribeAndCollect(alice2, 'private-ops');
});
after(async () => {
  for (const c of clients) c.disconnect();
  await srv.close();
});

test('GET /channels lists occupied channels; filter_by_prefix narrows; info adds counts', async () => {
  const sdk = serverSdk(srv.port);
  const all = await sdkJson(await sdk.get({ path: '/channels' }));
  assert.deepEqual(Object.keys(all.channels as object).sort(), ['news', 'presence-lobby', 'private-ops', 'sports']);
  for (const v of Object.values(all.channels as object)) assert.deepEqual(v, {});

  const presence = await sdkJson(
    await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } }),
  );
  assert.deepEqual(presence, { channels: { 'presence-lobby': { user_count: 2 } } });

  const counts = await sdkJson(
    await sdk.get({ path: '/channels', params: { filter_by_prefix: 'n', info: 'subscription_count' } }),
  );
  assert.deepEqual(counts, { channels: { news: { subscription_count: 2 } } });

  const none = await sdkJson(await sdk.get({ path: '/channels', params: { filter_by_prefix: 'zzz' } }));
  assert.deepEqual(none, { channels: {} });
});

test('GET /channels with info=user_count needs the presence- prefix (400)', async () => {
  const err = await sdkRefusal(serverSdk(srv.port).get({ path: '/channels', params: { info: 'user_count' } }), 400);
  assert.match(String(err.body), /presence-/);
});

test('GET /channels/{name}: occupied, subscription_count, user_count for presence', async () => {
  const sdk = serverSdk(srv.port);
  assert.deepEqual(await sdkJson(await sdk.get({ path: '/channels/news', params: { info: 'subscription_count' } })), {
    occupied: true,
    subscription_count: 2,
  });
  assert.deepEqual(
    await sdkJson(
      await sdk.get({ path: '/channels/presence-lobby', params: { info: 'user_count,subscription_count' } }),
    ),
    {
      occupied: true,
      user_count: 2,
      subscription_count: 3,
    },
  );
  assert.deepEqual(await sdkJson(await sdk.get({ path: '/channels/nobody-here' })), { occupied: false });
  await sdkRefusal(sdk.get({ path: '/channels/news', params: { info: 'user_count' } }), 400);
});

test('GET /channels/{name}/users lists presence members once each; non-presence → 400', async () => {
  const sdk = serverSdk(srv.port);
  const res = await sdkJson(await sdk.get({ path: '/channels/presence-lobby/users' }));
  const ids = (res.users as Array<{ id: string }>).map((u) => u.id).sort();
  assert.deepEqual(ids, ['alice', 'bob']);
  await sdkRefusal(sdk.get({ path: '/channels/news/users' }), 400);
});

test('counts follow unsubscribes: a channel whose last subscriber leaves disappears', async () => {
  const c = client();
  await connected(c);
  await subscribeAndCollect(c, 'fleeting');
  const sdk = serverSdk(srv.port);
  assert.deepEqual(await sdkJson(await sdk.get({ path: '/channels/fleeting' })), { occupied: true });
  c.unsubscribe('fleeting');
  const body = await eventually(
    async () => sdkJson(await sdk.get({ path: '/channels/fleeting' })),
    (b) => b.occupied === false,
    'fleeting vacated',
  );
  assert.deepEqual(body, { occupied: false });
  const list = await sdkJson(await sdk.get({ path: '/channels', params: { filter_by_prefix: 'fleet' } }));
  assert.deepEqual(list, { channels: {} });
});

test("terminateUserConnections closes every connection of that user (4009) and no one else's", async () => {
  // carol's two connections are raw sockets (pusher-js leaves a 30 s close timer behind after a
  // 4000–4099 close in Node); dan is a pusher-js client that must stay connected.
  const sdk = serverSdk(srv.port);
  const carol = await Promise.all([rawWs(srv.port), rawWs(srv.port)]);
  for (const ws of carol) {
    await until(() => ws.texts.length > 0, 'connection_established');
    const { auth, user_data } = sdk.authenticateUser(rawSocketId(ws), { id: 'carol' });
    ws.sendText(JSON.stringify({ event: 'pusher:signin', data: { auth, user_data } }));
    await until(() => ws.texts.some((t) => t.includes('pusher:signin_success')), 'carol signed in');
  }
  const dan = client({ user: { id: 'dan' } });
  await connected(dan);
  await signedIn(dan);
  const danCodes = closeCodes(dan);
  const res = await sdk.terminateUserConnections('carol');
  assert.equal(res.status, 200);
  await until(() => carol.every((ws) => ws.ended), 'both carol connections closed');
  assert.deepEqual(
    carol.map((ws) => ws.closeCode),
    [4009, 4009],
  );
  for (const ws of carol) assert.match(ws.texts.at(-1) ?? '', /"pusher:error".*4009/);
  assert.equal(dan.connection.state, 'connected');
  assert.deepEqual(danCodes, []);
  const got: unknown[] = [];
  dan.user.bind('still-here', (d: unknown) => got.push(d));
  await sdk.sendToUser('dan', 'still-here', { ok: 1 });
  await until(() => got.length === 1, 'dan still gets events');
  // Terminating a user with no connections is fine too.
  assert.equal((await sdk.terminateUserConnections('nobody')).status, 200);
});
