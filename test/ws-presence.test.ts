/**
 * Presence channels through laravel-echo: here / joining / leaving, one user on several sockets
 * counted once, the member limit and the member info size limit.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connected, echoOn, pusherClient, serverSdk, sleep, until } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { track } from './helpers/track.js';
import { untilAsync } from './helpers/ws-real.js';

interface Info {
  id: string;
  name: string;
}

async function server(t: TestContext, raw: Record<string, unknown> = {}): Promise<TestServer> {
  return track(t, await startTestServer(raw));
}

/** A pusher-js client (and Echo on it) whose presence auth names `id`. */
function user(t: TestContext, srv: TestServer, id: string, info: unknown = { id, name: id.toUpperCase() }) {
  const client = track(t, pusherClient(srv.port, { presence: () => ({ user_id: id, user_info: info }) }));
  return { client, echo: echoOn(client) };
}

interface Watch {
  here: Info[] | null;
  joining: Info[];
  leaving: Info[];
  errors: Array<{ status?: number; code?: number }>;
}

function join(echo: ReturnType<typeof echoOn>, room: string): Watch {
  const w: Watch = { here: null, joining: [], leaving: [], errors: [] };
  echo
    .join(room)
    .here((users: Info[]) => (w.here = users))
    .joining((u: Info) => w.joining.push(u))
    .leaving((u: Info) => w.leaving.push(u))
    .error((e: { status?: number; code?: number }) => w.errors.push(e));
  return w;
}

async function presenceInfo(srv: TestServer, channel: string): Promise<{ sockets: number; users: string[] }> {
  const sdk = serverSdk(srv.port);
  const info = (await (
    await sdk.get({ path: `/channels/${channel}`, params: { info: 'subscription_count,user_count' } })
  ).json()) as {
    subscription_count: number;
  };
  const users = (await (await sdk.get({ path: `/channels/${channel}/users` })).json()) as {
    users: Array<{ id: string }>;
  };
  return { sockets: info.subscription_count, users: users.users.map((u) => u.id).sort() };
}

const byId = (a: Info, b: Info) => a.id.localeCompare(b.id);

describe('here / joining / leaving', () => {
  test('members see each other join and leave with their user_info', async (t) => {
    const srv = await server(t);
    const alice = user(t, srv, 'alice');
    const wa = join(alice.echo, 'room');
    await until(() => wa.here !== null, 'alice here');
    assert.deepEqual(wa.here, [{ id: 'alice', name: 'ALICE' }]);

    const bob = user(t, srv, 'bob');
    const wb = join(bob.echo, 'room');
    await until(() => wb.here !== null && wa.joining.length === 1, 'bob here, alice sees bob join');
    assert.deepEqual([...wb.here!].sort(byId), [
      { id: 'alice', name: 'ALICE' },
      { id: 'bob', name: 'BOB' },
    ]);
    assert.deepEqual(wa.joining, [{ id: 'bob', name: 'BOB' }]);
    assert.deepEqual(wb.joining, [], 'a member is not told about its own join');

    bob.echo.leave('room');
    await until(() => wa.leaving.length === 1, 'alice sees bob leave');
    assert.deepEqual(wa.leaving, [{ id: 'bob', name: 'BOB' }]);
    assert.deepEqual(await presenceInfo(srv, 'presence-room'), { sockets: 1, users: ['alice'] });

    // A disconnect is a leave too.
    const carol = user(t, srv, 'carol');
    const wc = join(carol.echo, 'room');
    await until(() => wc.here !== null && wa.joining.length === 2, 'carol joined');
    carol.client.disconnect();
    await until(() => wa.leaving.length === 2, 'alice sees carol leave on disconnect');
    assert.deepEqual(wa.leaving[1], { id: 'carol', name: 'CAROL' });
  });

  test('numeric user ids and members without user_info', async (t) => {
    const srv = await server(t);
    const a = track(t, pusherClient(srv.port, { presence: () => ({ user_id: 42 as unknown as string }) }));
    const b = track(t, pusherClient(srv.port, { presence: () => ({ user_id: 'b' }) }));
    await Promise.all([connected(a), connected(b)]);
    const cha = a.subscribe('presence-plain') as unknown as { subscribed: boolean; members: { count: number } };
    await until(() => cha.subscribed, 'a subscribed');
    const chb = b.subscribe('presence-plain') as unknown as {
      subscribed: boolean;
      members: { count: number; get(id: string): { info: unknown } | null };
    };
    await until(() => chb.subscribed && cha.members.count === 2, 'both in');
    assert.equal(chb.members.get('42')?.info, null, 'the numeric id is listed as the string "42", without info');
    assert.deepEqual(await presenceInfo(srv, 'presence-plain'), { sockets: 2, users: ['42', 'b'] });
  });
});

describe('one user on several sockets', () => {
  test('is one member: joining once, leaving only when the last socket leaves', async (t) => {
    const srv = await server(t);
    const bob = user(t, srv, 'bob');
    const wb = join(bob.echo, 'team');
    await until(() => wb.here !== null, 'bob here');

    const a1 = user(t, srv, 'alice');
    const w1 = join(a1.echo, 'team');
    await until(() => w1.here !== null && wb.joining.length === 1, 'first alice socket joined');
    const a2 = user(t, srv, 'alice');
    const w2 = join(a2.echo, 'team');
    await until(() => w2.here !== null, 'second alice socket joined');
    assert.deepEqual(
      [...w2.here!].sort(byId),
      [
        { id: 'alice', name: 'ALICE' },
        { id: 'bob', name: 'BOB' },
      ],
      'alice is listed once',
    );
    assert.deepEqual(await presenceInfo(srv, 'presence-team'), { sockets: 3, users: ['alice', 'bob'] });
    await sleep(50);
    assert.equal(wb.joining.length, 1, 'bob saw alice join once');
    assert.equal(w1.joining.length, 0, "alice's first socket is not told about her second");

    a1.client.disconnect();
    await untilAsync(async () => (await presenceInfo(srv, 'presence-team')).sockets === 2, 'first socket gone');
    await sleep(50);
    assert.deepEqual(wb.leaving, [], 'alice has not left while a socket remains');
    assert.deepEqual((await presenceInfo(srv, 'presence-team')).users, ['alice', 'bob']);

    a2.echo.leave('team');
    await until(() => wb.leaving.length === 1, 'alice left with her last socket');
    assert.deepEqual(wb.leaving, [{ id: 'alice', name: 'ALICE' }]);
    assert.deepEqual(await presenceInfo(srv, 'presence-team'), { sockets: 1, users: ['bob'] });
  });
});

describe('limits', () => {
  test('maxPresenceMembers: 2 refuses a third user but accepts a member’s second socket', async (t) => {
    const srv = await server(t, { apps: [testApp({ maxPresenceMembers: 2 })] });
    const alice = user(t, srv, 'alice');
    const bob = user(t, srv, 'bob');
    const wa = join(alice.echo, 'small');
    const wb = join(bob.echo, 'small');
    await until(() => wa.here !== null && wb.here !== null, 'two members in');

    const carol = user(t, srv, 'carol');
    const wc = join(carol.echo, 'small');
    await until(() => wc.errors.length === 1, 'carol refused');
    assert.equal(wc.errors[0]!.status, 403);
    assert.equal(wc.errors[0]!.code, 4100);
    assert.equal(wc.here, null);
    assert.equal(carol.client.connection.state, 'connected');

    const alice2 = user(t, srv, 'alice');
    const wa2 = join(alice2.echo, 'small');
    await until(() => wa2.here !== null || wa2.errors.length > 0, 'alice second socket answered');
    assert.deepEqual(wa2.errors, []);
    assert.equal(wa2.here!.length, 2);
    assert.deepEqual(
      wa.joining.map((u) => u.id),
      ['bob'],
      'carol never appeared',
    );
    assert.deepEqual(await presenceInfo(srv, 'presence-small'), { sockets: 3, users: ['alice', 'bob'] });

    // A place frees up when a member leaves.
    bob.client.disconnect();
    await until(() => wa.leaving.length === 1, 'bob left');
    const dave = user(t, srv, 'dave');
    const wd = join(dave.echo, 'small');
    await until(() => wd.here !== null || wd.errors.length > 0, 'dave answered');
    assert.deepEqual(wd.errors, []);
  });

  test('maxPresenceMemberSizeBytes refuses an oversized user_info (413) and accepts one that fits', async (t) => {
    const srv = await server(t, { apps: [testApp({ maxPresenceMemberSizeBytes: 100 })] });
    const big = user(t, srv, 'big', { id: 'big', name: 'x'.repeat(200) });
    const wbig = join(big.echo, 'sized');
    await until(() => wbig.errors.length === 1, 'oversized refused');
    assert.equal(wbig.errors[0]!.status, 413);
    assert.equal(wbig.here, null);

    const fits = user(t, srv, 'fits', { id: 'fits', name: 'x'.repeat(60) });
    const wfits = join(fits.echo, 'sized');
    await until(() => wfits.here !== null || wfits.errors.length > 0, 'fitting answered');
    assert.deepEqual(wfits.errors, []);
    assert.deepEqual(wfits.here, [{ id: 'fits', name: 'x'.repeat(60) }]);
  });
});
