/**
 * The presence member list in `pusher_internal:subscription_succeeded` is kept as bytes per
 * channel and sent in pieces that later frames share (core/presence-list.ts; the `ws` transport
 * writes the pieces after its own frame header). Over both transports, raw clients join one
 * presence channel one by one until the frame passes 64 KiB (the 8-byte length form of the
 * header), some leave and others join after them (a leave rebuilds the list's tail, and frames
 * already sent keep their bytes), and each joiner decodes its frame off the wire: every member
 * in join order with its info, and the count. A pusher-js client joining last agrees.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadUws } from '../src/transport/uws.js';
import { connected, pusherClient, serverSdk, until } from './helpers/clients.js';
import { APP_PATH, WireClient } from './helpers/fuzz-wire.js';
import { untilAsync } from './helpers/ws-real.js';
import { APP, startTestServer, testApp } from './helpers/server.js';

const CHANNEL = 'presence-big';
const INFO_BYTES = 400;
const MEMBERS = 200; // ~95 KiB of member list

let uwsSkip: string | false = false;
try {
  await loadUws();
} catch (err) {
  uwsSkip = `uWebSockets.js not loadable here: ${err instanceof Error ? err.message : String(err)}`;
}

interface Presence {
  ids: string[];
  hash: Record<string, unknown>;
  count: number;
}

/** A raw client that joins CHANNEL as `id` and keeps the member list it was sent. */
async function join(port: number, id: string): Promise<{ c: WireClient; presence: () => Presence | null }> {
  const c = await WireClient.open(port, APP_PATH(APP.key));
  assert.ok(c.socketId, `${id} connected`);
  let presence: Presence | null = null;
  c.onText = (text) => {
    const m = JSON.parse(text) as { event: string; data?: string };
    if (m.event === 'pusher_internal:subscription_succeeded')
      presence = (JSON.parse(m.data!) as { presence: Presence }).presence;
    else if (m.event === 'pusher:error' || m.event === 'pusher:subscription_error') assert.fail(`${id}: ${text}`);
  };
  const channelData = JSON.stringify({ user_id: id, user_info: info(id) });
  const auth = `${APP.key}:${createHmac('sha256', APP.secret).update(`${c.socketId}:${CHANNEL}:${channelData}`).digest('hex')}`;
  await c.sendText(
    JSON.stringify({ event: 'pusher:subscribe', data: { channel: CHANNEL, auth, channel_data: channelData } }),
  );
  await until(() => presence !== null || c.ended, `${id} subscribed`, 5_000);
  return { c, presence: () => presence };
}

/** The channel's users as the HTTP API lists them. */
async function users(port: number): Promise<string[]> {
  const res = await serverSdk(port).get({ path: `/channels/${CHANNEL}/users` });
  return ((await res.json()) as { users: { id: string }[] }).users.map((u) => u.id);
}

function info(id: string): { id: string; pad: string } {
  return { id, pad: `é${id}"✓`.padEnd(INFO_BYTES, 'x') };
}

async function scenario(transport: 'ws' | 'uws'): Promise<void> {
  const srv = await startTestServer({ transport, apps: [testApp({ maxPresenceMembers: 1_000 })] });
  const open = new Map<string, WireClient>();
  const pusher = pusherClient(srv.port, { presence: () => ({ user_id: 'last', user_info: info('last') }) });
  try {
    const order: string[] = [];
    const check = (id: string, got: Presence | null): void => {
      assert.ok(got, `${id} got a member list`);
      assert.deepEqual(got.ids, order, `${id}: the members in join order`);
      assert.equal(got.count, order.length);
      for (const m of order) assert.deepEqual(got.hash[m], info(m), `${id}: the info of ${m}`);
    };
    let sawLong = false;
    for (let i = 0; i < MEMBERS; i++) {
      const id = i % 7 === 3 ? String(1000 - i) : `user-${i}`; // integer-like ids keep their place too
      order.push(id);
      const { c, presence } = await join(srv.port, id);
      check(id, presence());
      open.set(id, c);
      if (i % 25 === 24) {
        // Every 25th join, two members from the middle leave; the next joiner's list is rebuilt from there.
        for (const gone of order.splice(Math.floor(order.length / 2), 2)) {
          open.get(gone)!.destroy();
          open.delete(gone);
        }
        const want = order.join();
        await untilAsync(async () => (await users(srv.port)).join() === want, 'the leaves reached presence');
      }
      sawLong ||= JSON.stringify(presence()).length > 65_536;
    }
    assert.ok(sawLong, 'a member list passed 64 KiB');
    await connected(pusher);
    const ch = pusher.subscribe(CHANNEL) as unknown as { subscribed: boolean; members: { count: number; me: unknown } };
    await until(() => ch.subscribed, 'pusher-js subscribed', 5_000);
    assert.equal(ch.members.count, order.length + 1);
  } finally {
    pusher.disconnect();
    for (const c of open.values()) c.destroy();
    await srv.close();
  }
}

describe('presence member lists in pieces', () => {
  it('ws transport: every joiner decodes the full list, past 64 KiB, across leaves', { timeout: 60_000 }, () =>
    scenario('ws'),
  );
  it(
    'uws transport: every joiner decodes the full list, past 64 KiB, across leaves',
    { skip: uwsSkip, timeout: 60_000 },
    () => scenario('uws'),
  );
});
