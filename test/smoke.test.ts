import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connected, pusherClient, serverSdk, until, type PusherClient } from './helpers/clients.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
const clients: PusherClient[] = [];
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await srv.close();
});

test('pusher-js receives an event published with the pusher SDK; presence lists both members', async () => {
  const a = pusherClient(srv.port, { presence: (_s, _c) => ({ user_id: 'alice', user_info: { name: 'Alice' } }) });
  const b = pusherClient(srv.port, { presence: () => ({ user_id: 'bob' }) });
  clients.push(a, b);
  await Promise.all([connected(a), connected(b)]);
  const got: unknown[] = [];
  const ch = a.subscribe('news');
  ch.bind('breaking', (d: unknown) => got.push(d));
  await until(() => ch.subscribed, 'subscribed');
  const res = await serverSdk(srv.port).trigger('news', 'breaking', { title: 'hi' });
  assert.equal(res.status, 200);
  await until(() => got.length === 1, 'event received');
  assert.deepEqual(got[0], { title: 'hi' });

  const pa = a.subscribe('presence-room') as unknown as { members: { count: number }; subscribed: boolean };
  await until(() => pa.subscribed, 'a in presence');
  const pb = b.subscribe('presence-room') as unknown as {
    members: { count: number; each: (f: (m: { id: string }) => void) => void };
    subscribed: boolean;
  };
  await until(() => pb.subscribed && pa.members.count === 2, 'both members seen');
  const ids: string[] = [];
  pb.members.each((m) => ids.push(m.id));
  assert.deepEqual(ids.sort(), ['alice', 'bob']);
});
