/**
 * Refusals of the HTTP API: signatures, keys, timestamps, body checksums, unknown and disabled
 * apps, malformed bodies. The `pusher` SDK must see each status (its RequestError has `status`);
 * the cases it cannot produce are sent as raw signed (or unsigned) requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSdk } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { apiRequest, sdkRefusal, signedQuery } from './helpers/api-http.js';

let srv: TestServer;
const OFF = { id: 'off-app', key: 'off-key', secret: 'off-secret' };

before(async () => {
  srv = await startTestServer({ apps: [testApp(), { ...OFF, enabled: false }] });
});
after(async () => {
  await srv.close();
});

const now = (): number => Math.floor(Date.now() / 1000);
const EVENT = JSON.stringify({ name: 'e', channel: 'c', data: '{}' });

test('a correctly signed raw request is accepted (the baseline for every refusal below)', async () => {
  const res = await apiRequest(srv.port, { method: 'POST', path: '/events', body: EVENT });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, {});
  assert.equal(res.headers.get('content-type'), 'application/json');
});

test('wrong secret → 401, seen by the SDK as a RequestError with status', async () => {
  const sdk = serverSdk(srv.port, { secret: 'not-the-secret' });
  const err = await sdkRefusal(sdk.trigger('c', 'e', {}), 401);
  assert.match(String(err.body), /Invalid signature/);
  await sdkRefusal(sdk.get({ path: '/channels' }), 401);
});

test('wrong key → 401', async () => {
  const err = await sdkRefusal(serverSdk(srv.port, { key: 'other-key' }).trigger('c', 'e', {}), 401);
  assert.match(String(err.body), /auth_key/);
});

test('auth_timestamp more than 600 s away → 401; within 600 s → accepted', async () => {
  const stale = await apiRequest(srv.port, { method: 'POST', path: '/events', body: EVENT, timestamp: now() - 700 });
  assert.equal(stale.status, 401);
  assert.match(String((stale.json as { error: string }).error), /600 s/);
  const future = await apiRequest(srv.port, { method: 'GET', path: '/channels', timestamp: now() + 700 });
  assert.equal(future.status, 401);
  const old = await apiRequest(srv.port, { method: 'POST', path: '/events', body: EVENT, timestamp: now() - 590 });
  assert.equal(old.status, 200, old.text);
  const nan = await apiRequest(srv.port, { method: 'GET', path: '/channels', params: {}, timestamp: Number.NaN });
  assert.equal(nan.status, 401);
});

test('wrong body_md5 → 401; a tampered body under a valid signature → 401', async () => {
  const wrong = await apiRequest(srv.port, { method: 'POST', path: '/events', body: EVENT, bodyMd5: '0'.repeat(32) });
  assert.equal(wrong.status, 401);
  assert.match(String((wrong.json as { error: string }).error), /body_md5/);

  // Sign one body, send another (same length): the checksum no longer matches.
  const qs = signedQuery({ method: 'POST', path: '/events', body: EVENT });
  const res = await fetch(`http://127.0.0.1:${srv.port}/apps/app-id/events?${qs}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: EVENT.replace('"c"', '"d"'),
  });
  assert.equal(res.status, 401);
  await res.arrayBuffer();
});

test('a query parameter changed after signing → 401; no signature at all → 401', async () => {
  const qs = signedQuery({ method: 'GET', path: '/channels', params: { filter_by_prefix: 'presence-' } });
  const res = await fetch(
    `http://127.0.0.1:${srv.port}/apps/app-id/channels?${qs.replace('filter_by_prefix=presence-', 'filter_by_prefix=private-')}`,
  );
  assert.equal(res.status, 401);
  await res.arrayBuffer();
  const unsigned = await apiRequest(srv.port, { method: 'GET', path: '/channels', unsigned: true });
  assert.equal(unsigned.status, 401);
  const signedForOtherPath = signedQuery({ method: 'GET', path: '/channels' });
  const moved = await fetch(`http://127.0.0.1:${srv.port}/apps/app-id/channels/c?${signedForOtherPath}`);
  assert.equal(moved.status, 401);
  await moved.arrayBuffer();
});

test('unknown app id → 404; disabled app → 403 (even correctly signed)', async () => {
  const err = await sdkRefusal(serverSdk(srv.port, { appId: 'no-such-app' }).trigger('c', 'e', {}), 404);
  assert.match(String(err.body), /Unknown app id/);
  const off = serverSdk(srv.port, { appId: OFF.id, key: OFF.key, secret: OFF.secret });
  await sdkRefusal(off.trigger('c', 'e', {}), 403);
  await sdkRefusal(off.get({ path: '/channels' }), 403);
});

test('malformed JSON → 400; a JSON array, missing fields, a bad socket_id or channel → 400', async () => {
  const broken = await apiRequest(srv.port, { method: 'POST', path: '/events', body: '{"name": "e", "channel": ' });
  assert.equal(broken.status, 400);
  assert.match(String((broken.json as { error: string }).error), /not valid JSON/);
  const array = await apiRequest(srv.port, { method: 'POST', path: '/events', body: '[1,2]' });
  assert.equal(array.status, 400);
  const noName = await apiRequest(srv.port, {
    method: 'POST',
    path: '/events',
    body: JSON.stringify({ channel: 'c', data: '{}' }),
  });
  assert.equal(noName.status, 400);
  const badBatch = await apiRequest(srv.port, { method: 'POST', path: '/batch_events', body: '{"batch": "no"}' });
  assert.equal(badBatch.status, 400);
  const badSocketId = await apiRequest(srv.port, {
    method: 'POST',
    path: '/events',
    body: JSON.stringify({ name: 'e', channel: 'c', data: '{}', socket_id: 'abc' }),
  });
  assert.equal(badSocketId.status, 400);
  const badChannel = await sdkRefusal(
    serverSdk(srv.port).post({ path: '/events', body: { name: 'e', data: '{}', channels: ['bad channel!'] } as never }),
    400,
  );
  assert.match(String(badChannel.body), /Invalid channel/);
});

test('unknown endpoint → 404, wrong method → 405', async () => {
  const res = await apiRequest(srv.port, { method: 'GET', path: '/nothing-here' });
  assert.equal(res.status, 404);
  const wrongMethod = await apiRequest(srv.port, { method: 'GET', path: '/events' });
  assert.equal(wrongMethod.status, 405);
});
