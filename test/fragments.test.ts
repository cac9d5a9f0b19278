/**
 * Shared fragments through real parts: two wiremesh nodes (in-memory cluster), pusher-js viewers,
 * the `pusher` SDK for API calls, and a real HTTP upstream that checks every render's signature
 * with the SDK (helpers/fragment-upstream.ts). The browser side is in e2e-fragments.test.ts.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { validateConfig } from '../src/config/validate.js';
import { connected, pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { FragmentUpstream } from './helpers/fragment-upstream.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { appUrl, errorData, RawClient } from './helpers/ws-raw.js';
import { errorsIn, record, subscribeOutcome, type Received } from './helpers/ws-real.js';

const CHANNEL = 'presence-lobby';
const FRAGMENT = 'online-users';

interface FragmentFrame {
  fragment: string;
  channel: string;
  epoch: string;
  version: number;
  html: string;
}

const fragmentFrames = (frames: Received[]): FragmentFrame[] =>
  frames.filter((f) => f.event === 'wiremesh:fragment').map((f) => f.data as FragmentFrame);

describe('shared fragments (two nodes, real HTTP upstream)', { timeout: 120_000 }, () => {
  let upstream: FragmentUpstream;
  let cluster: TestCluster;
  let nodeA: TestServer;
  let nodeB: TestServer;
  const clients: PusherClient[] = [];

  before(async () => {
    upstream = await FragmentUpstream.start();
    const app = testApp({
      livewire: { backends: [upstream.origin], publicUrl: 'https://app.example.test', healthIntervalMs: 500 },
      fragments: {
        path: '/render',
        names: { [FRAGMENT]: ['presence-*', 'lobby-public', 'private-lobby'] },
        windowMs: 100,
        maxHtmlBytes: 4096,
        maxPerConnection: 2,
        timeoutMs: 1000,
      },
      maxPresenceMembers: 1000,
    });
    cluster = await startTestCluster(2, { apps: [app] });
    [nodeA, nodeB] = cluster.nodes as [TestServer, TestServer];
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await quiet();
    upstream.renders.length = 0;
    upstream.queue.length = 0;
  });

  after(async () => {
    await cluster?.close();
    await upstream?.close();
  });

  function client(node: TestServer, user: string): { client: PusherClient; frames: Received[] } {
    const c = pusherClient(node.port, { presence: () => ({ user_id: user, user_info: { name: user } }) });
    clients.push(c);
    return { client: c, frames: record(c) };
  }

  /** A page's socket: subscribed to the channel, then viewing the fragment. */
  async function viewer(node: TestServer, user: string, channel = CHANNEL) {
    const v = client(node, user);
    await connected(v.client);
    assert.deepEqual(await subscribeOutcome(v.client, channel), { ok: true });
    v.client.send_event('wiremesh:fragment-subscribe', { fragment: FRAGMENT, channel });
    return { ...v, html: () => fragmentFrames(v.frames) };
  }

  /** Waits until renders have stopped for a while. */
  async function quiet(): Promise<void> {
    let last = -1;
    while (upstream.renders.length !== last) {
      last = upstream.renders.length;
      await sleep(300);
    }
  }

  const node = (s: TestServer): string => s.server.nodeId;
  const rendersOn = (s: TestServer): number => upstream.renders.filter((r) => r.node === node(s)).length;

  test('a fragment needs a subscription to its channel on the same connection; plain clients see no wiremesh frames', async () => {
    const plain = client(nodeA, 'plain');
    await connected(plain.client);
    assert.deepEqual(await subscribeOutcome(plain.client, CHANNEL), { ok: true });
    const sneaky = client(nodeA, 'sneaky');
    await connected(sneaky.client);
    sneaky.client.send_event('wiremesh:fragment-subscribe', { fragment: FRAGMENT, channel: CHANNEL });
    await until(() => errorsIn(sneaky.frames).length > 0, 'a refusal');
    assert.equal(errorsIn(sneaky.frames)[0]!.code, 4009);
    assert.match(errorsIn(sneaky.frames)[0]!.message, /subscribe to presence-lobby first/);
    assert.ok(
      nodeA.logs.some((l) => l.includes('fragment request refused') && l.includes(sneaky.client.connection.socket_id)),
      'logged with the socket',
    );

    const v = await viewer(nodeA, 'alice');
    await until(() => v.html().length === 1, 'alice gets the HTML');
    assert.match(v.html()[0]!.html, /<li>alice<\/li><li>plain<\/li>/);
    assert.equal(sneaky.client.connection.state, 'connected', 'a refusal keeps the connection');
    await sleep(300);
    assert.deepEqual(fragmentFrames(plain.frames), [], 'a plain subscriber of the channel gets no fragment frames');
    assert.deepEqual(fragmentFrames(sneaky.frames), []);
  });

  test('the render request is signed in the webhook format with the fragment key and carries the members; X-Wiremesh-Node says who asked', async () => {
    const v = await viewer(nodeA, 'alice');
    await until(() => v.html().length === 1, 'the first render');
    const r = upstream.renders.at(-1)!;
    assert.equal(r.valid, true, "the pusher SDK's webhook().isValid() accepts it, given the fragment key");
    assert.equal(r.validAsWebhook, false, 'signed with the app secret it is not: it can never pass as a webhook');
    assert.deepEqual([r.fragment, r.channel, r.members, r.subscriptionCount], [FRAGMENT, CHANNEL, ['alice'], 1]);
    assert.equal(r.node, node(nodeA));
    assert.equal(r.forwardedHost, 'app.example.test', 'URLs in the HTML can be the public ones (X-Forwarded-*)');
    assert.equal(rendersOn(nodeB), 0, 'a node without viewers renders nothing');
  });

  test('presence changes on either node: one render per node with viewers, every viewer gets the new list', async () => {
    const a = await viewer(nodeA, 'alice');
    const b = await viewer(nodeB, 'bob');
    await until(
      () => a.html().at(-1)?.html.includes('bob') === true && b.html().at(-1)?.html.includes('alice') === true,
      'both lists',
    );
    await quiet();
    upstream.renders.length = 0;
    const carol = client(nodeB, 'carol');
    assert.deepEqual(await subscribeOutcome(carol.client, CHANNEL), { ok: true });
    await until(
      () => a.html().at(-1)?.html.includes('carol') === true && b.html().at(-1)?.html.includes('carol') === true,
      'carol listed',
    );
    await quiet();
    assert.deepEqual([rendersOn(nodeA), rendersOn(nodeB)], [1, 1]);
    assert.ok(upstream.renders.every((r) => r.members.join() === 'alice,bob,carol'));
    for (const v of [a, b]) {
      const versions = v.html().map((f) => f.version);
      assert.deepEqual(
        versions,
        [...versions].sort((x, y) => x - y),
        'versions only increase',
      );
    }
  });

  test('a new viewer gets the latest HTML the node has at once, without a render', async () => {
    const a = await viewer(nodeA, 'alice');
    const b = await viewer(nodeA, 'bob');
    await until(() => a.html().at(-1)?.html.includes('bob') === true, "alice's list has bob");
    await quiet();
    upstream.renders.length = 0;
    // Dave only views (his socket is already a member: subscribe first, then ask).
    const dave = client(nodeA, 'alice');
    assert.deepEqual(
      await subscribeOutcome(dave.client, CHANNEL),
      { ok: true },
      'alice again, on a second socket: no presence change',
    );
    dave.client.send_event('wiremesh:fragment-subscribe', { fragment: FRAGMENT, channel: CHANNEL });
    await until(() => fragmentFrames(dave.frames).length === 1, 'the HTML held');
    assert.equal(fragmentFrames(dave.frames)[0]!.version, b.html().at(-1)!.version);
    await sleep(300);
    assert.equal(upstream.renders.length, 0, 'no render for a new viewer when the node has the HTML');
  });

  test('a failed render keeps the last HTML, is counted and logged; the next one delivers a higher version', async () => {
    const a = await viewer(nodeA, 'alice');
    await until(() => a.html().length === 1, 'first HTML');
    await quiet();
    upstream.queue.push({ status: 500 }, { bytes: 5000 });
    const sdk = serverSdk(nodeA.port);
    await sdk.post({ path: `/fragments/${FRAGMENT}/refresh`, body: {} as unknown as string });
    await until(() => upstream.renders.length === 2, 'the failing render');
    await sleep(200);
    await sdk.post({ path: `/fragments/${FRAGMENT}/refresh`, body: {} as unknown as string });
    await until(() => upstream.renders.length === 3, 'the oversized render');
    await sleep(200);
    assert.equal(a.html().length, 1, 'failed renders send nothing: the page keeps the last good HTML');
    const metrics = await (await fetch(`${nodeA.httpUrl}/metrics`)).text();
    assert.match(metrics, /wiremesh_fragment_renders_total\{app="app-id",outcome="status"\} 1/);
    assert.match(metrics, /wiremesh_fragment_renders_total\{app="app-id",outcome="too_large"\} 1/);
    const failures = nodeA.logs.filter((l) => l.includes('fragment render failed'));
    assert.ok(
      failures.some((l) => l.includes('"reason":"status"') && l.startsWith('{"level":40,')),
      'the first failure is a warning',
    );
    assert.ok(
      failures.some((l) => l.includes('"reason":"too_large"') && l.startsWith('{"level":20,')),
      'the next one of the episode is not',
    );
    upstream.title = 'Back';
    await sdk.post({ path: `/fragments/${FRAGMENT}/refresh`, body: { channel: CHANNEL } as unknown as string });
    await until(() => a.html().length === 2, 'a good render again');
    assert.match(a.html()[1]!.html, /Back/);
    assert.ok(a.html()[1]!.version > a.html()[0]!.version);
    upstream.title = 'Online';
  });

  test('a render that takes longer than timeoutMs is a failed render (timeout); the HTML stays', async () => {
    const a = await viewer(nodeA, 'alice');
    await until(() => a.html().length === 1, 'first HTML');
    await quiet();
    upstream.queue.push({ delayMs: 1500 });
    await serverSdk(nodeA.port).post({ path: `/fragments/${FRAGMENT}/refresh`, body: {} as unknown as string });
    await until(
      () => nodeA.logs.some((l) => l.includes('fragment render failed') && l.includes('"reason":"timeout"')),
      'the timeout',
      3_000,
    );
    assert.equal(a.html().length, 1);
    await sleep(700);
  });

  test('triggers during a slow render coalesce into one trailing render', async () => {
    const a = await viewer(nodeA, 'alice');
    await until(() => a.html().length === 1, 'first HTML');
    await quiet();
    upstream.renders.length = 0;
    upstream.queue.push({ delayMs: 500 });
    const sdk = serverSdk(nodeA.port);
    for (let i = 0; i < 10; i++)
      await sdk.post({ path: `/fragments/${FRAGMENT}/refresh`, body: {} as unknown as string });
    await until(() => a.html().length === 3, 'the slow render and the trailing one delivered');
    await quiet();
    assert.equal(upstream.renders.length, 2, 'the slow one and one trailing render');
  });

  test('an API refresh on node A re-renders on node B, which has the only viewers', async () => {
    const b = await viewer(nodeB, 'bob');
    await until(() => b.html().length === 1, 'first HTML');
    await quiet();
    upstream.renders.length = 0;
    upstream.title = 'Refreshed';
    await serverSdk(nodeA.port).post({
      path: `/fragments/${FRAGMENT}/refresh`,
      body: { channel: CHANNEL } as unknown as string,
    });
    await until(() => b.html().length === 2, 'the refresh reached node B');
    assert.match(b.html()[1]!.html, /Refreshed/);
    await quiet();
    assert.deepEqual([rendersOn(nodeA), rendersOn(nodeB)], [0, 1]);
    upstream.title = 'Online';
    const other = await serverSdk(nodeA.port).post({
      path: `/fragments/${FRAGMENT}/refresh`,
      body: { channel: 'presence-elsewhere' } as unknown as string,
    });
    assert.equal(other.status, 200);
    await sleep(300);
    assert.equal(upstream.renders.length, 1, 'a refresh of a channel nobody views renders nothing');
  });

  test('refresh API refusals: bad names 400, unsigned 401', async () => {
    const sdk = serverSdk(nodeA.port);
    await assert.rejects(
      sdk.post({ path: '/fragments/bad%20name/refresh', body: {} as unknown as string }),
      (err: { status?: number }) => err.status === 400,
    );
    await assert.rejects(
      sdk.post({ path: `/fragments/${FRAGMENT}/refresh`, body: { channel: 7 } as unknown as string }),
      (err: { status?: number }) => err.status === 400,
    );
    const unsigned = await fetch(`${nodeA.httpUrl}/apps/app-id/fragments/${FRAGMENT}/refresh`, {
      method: 'POST',
      body: '{}',
    });
    assert.equal(unsigned.status, 401);
  });

  test('leaving the channel stops the fragment; the last viewer gone, no more renders', async () => {
    const a = await viewer(nodeA, 'alice');
    await until(() => a.html().length === 1, 'first HTML');
    a.client.unsubscribe(CHANNEL);
    await quiet();
    upstream.renders.length = 0;
    await serverSdk(nodeA.port).post({ path: `/fragments/${FRAGMENT}/refresh`, body: {} as unknown as string });
    const bob = client(nodeA, 'bob');
    assert.deepEqual(await subscribeOutcome(bob.client, CHANNEL), { ok: true });
    await sleep(400);
    assert.equal(upstream.renders.length, 0, 'nobody views it: nothing rendered');
    assert.equal(a.html().length, 1);
  });

  test('renders of public and private channels carry no members (their subscriptions are socket ids)', async () => {
    for (const channel of ['lobby-public', 'private-lobby']) {
      upstream.renders.length = 0;
      const v = await viewer(nodeA, 'alice', channel);
      await until(() => v.html().length === 1, `the render for ${channel}`);
      const r = upstream.renders.at(-1)!;
      assert.equal(r.channel, channel);
      assert.deepEqual(r.members, [], `${channel}: no members`);
      assert.equal(r.subscriptionCount, 1);
    }
  });

  test('limits: fragments per connection, names', async () => {
    const v = client(nodeA, 'alice');
    await connected(v.client);
    for (const ch of ['presence-a', 'presence-b', 'presence-c'])
      assert.deepEqual(await subscribeOutcome(v.client, ch), { ok: true });
    for (const ch of ['presence-a', 'presence-b', 'presence-c'])
      v.client.send_event('wiremesh:fragment-subscribe', { fragment: FRAGMENT, channel: ch });
    v.client.send_event('wiremesh:fragment-subscribe', { fragment: '../etc', channel: 'presence-a' });
    await until(() => errorsIn(v.frames).length === 2, 'two refusals');
    assert.deepEqual(
      errorsIn(v.frames).map((e) => e.code),
      [4100, 4302],
    );
    await until(() => fragmentFrames(v.frames).length === 2, 'the two allowed fragments');
  });
});

describe('shared fragments: the interval trigger', { timeout: 30_000 }, () => {
  test('intervalMs re-renders every viewed fragment without any change; a node with no viewers does not', async () => {
    const upstream = await FragmentUpstream.start();
    const server = await startTestServer({
      apps: [
        testApp({
          livewire: { backends: [upstream.origin], publicUrl: 'https://app.example.test' },
          fragments: { path: '/render', names: { [FRAGMENT]: [CHANNEL] }, intervalMs: 200 },
        }),
      ],
    });
    const c = pusherClient(server.port, { presence: () => ({ user_id: 'alice' }) });
    try {
      await sleep(500);
      assert.equal(upstream.renders.length, 0, 'no viewers, no renders');
      const frames = record(c);
      assert.deepEqual(await subscribeOutcome(c, CHANNEL), { ok: true });
      c.send_event('wiremesh:fragment-subscribe', { fragment: FRAGMENT, channel: CHANNEL });
      await until(() => fragmentFrames(frames).length >= 4, 'renders every 200 ms', 3_000);
    } finally {
      c.disconnect();
      await server.close();
      await upstream.close();
    }
  });
});

describe("shared fragments: one client cannot take a node's fragments from everyone else", { timeout: 30_000 }, () => {
  test('only listed names on their channel patterns; a budget of started fragments per client address; refusals logged with the client', async () => {
    const upstream = await FragmentUpstream.start();
    const server = await startTestServer({
      apps: [
        testApp({
          livewire: { backends: [upstream.origin], publicUrl: 'https://app.example.test' },
          fragments: { path: '/render', names: { [FRAGMENT]: [CHANNEL, 'room-*'] }, maxActive: 4, maxPerAddress: 2 },
        }),
      ],
    });
    // One client from another address: two sockets, each starting fragments on throwaway public channels.
    const sockets = [0, 1].map(() => new RawClient(appUrl(server.port), { localAddress: '127.0.0.2' }));
    const page = pusherClient(server.port, { presence: () => ({ user_id: 'alice' }) });
    try {
      for (const c of sockets) await c.established();
      const view = (c: RawClient, channel: string, fragment = FRAGMENT): void => {
        c.send({ event: 'pusher:subscribe', data: { channel } });
        c.send({ event: 'wiremesh:fragment-subscribe', data: { fragment, channel } });
      };
      let n = 0;
      for (const c of sockets) for (let i = 0; i < 3; i++) view(c, `room-${n++}`);
      view(sockets[0]!, 'junk-1');
      view(sockets[0]!, 'room-0', 'other');
      for (const c of sockets) await c.roundTrip();
      const errors = sockets.flatMap((c) => c.frames.filter((f) => f.event === 'pusher:error').map(errorData));
      assert.equal(errors.filter((e) => e.code === 4100).length, 4, 'two fragments started, four refused');
      assert.match(errors.find((e) => e.code === 4100)!.message, /from this address already started 2 fragments/);
      assert.ok(
        errors.some((e) => e.code === 4302 && /fragment online-users is not shown on channel junk-1/.test(e.message)),
      );
      assert.ok(errors.some((e) => e.code === 4302 && /no fragment named other/.test(e.message)));
      assert.ok(
        sockets.every((c) => c.isOpen),
        'refusals keep the connection',
      );
      assert.ok(
        server.logs.some((l) => l.includes('fragment request refused') && l.includes('127.0.0.2')),
        'logged with the client address',
      );
      await until(() => new Set(upstream.renders.map((r) => r.channel)).size === 2, 'the two started fragments render');

      // A real page from another address still gets its fragment.
      const frames = record(page);
      assert.deepEqual(await subscribeOutcome(page, CHANNEL), { ok: true });
      page.send_event('wiremesh:fragment-subscribe', { fragment: FRAGMENT, channel: CHANNEL });
      await until(() => fragmentFrames(frames).length === 1, "the page's fragment");
      assert.deepEqual(errorsIn(frames), []);
    } finally {
      page.disconnect();
      for (const c of sockets) c.close();
      await server.close();
      await upstream.close();
    }
  });
});

describe('apps[].fragments configuration', () => {
  const livewire = { backends: ['http://127.0.0.1:8000'], publicUrl: 'https://app.example.test' };
  const names = { 'online-users': ['presence-lobby', 'presence-room.*'] };
  const fragments = (f: Record<string, unknown>) => validateConfig({ apps: [testApp({ livewire, fragments: f })] });

  test('needs the livewire section (its upstreams); bad values name the setting', () => {
    assert.throws(
      () => validateConfig({ apps: [testApp({ fragments: { names } })] }),
      /apps\[0\]\.fragments renders on the Livewire upstreams: apps\[0\]\.livewire must be set too/,
    );
    assert.throws(() => fragments({ names, windowMs: -1 }), /apps\[0\]\.fragments\.windowMs/);
    assert.throws(() => fragments({ names, intervalMs: 10 }), /apps\[0\]\.fragments\.intervalMs/);
    assert.throws(() => fragments({ names, maxPerAddress: 0 }), /apps\[0\]\.fragments\.maxPerAddress/);
    assert.throws(
      () =>
        validateConfig({
          limits: { maxBufferedBytes: 1024 * 1024 },
          apps: [testApp({ livewire, fragments: { names, maxHtmlBytes: 512 * 1024 } })],
        }),
      /apps\[0\]\.fragments\.maxHtmlBytes \(524288\) must not exceed a quarter of limits\.maxBufferedBytes/,
    );
    const config = fragments({ names });
    assert.deepEqual(
      { ...config.apps[0]!.fragments, names: { ...config.apps[0]!.fragments!.names } },
      {
        path: '/wiremesh/fragments',
        names,
        windowMs: 100,
        intervalMs: 0,
        timeoutMs: 5000,
        maxHtmlBytes: 65536,
        maxPerConnection: 16,
        maxActive: 1000,
        maxPerAddress: 32,
      },
    );
  });

  test('names: every fragment listed, each with the channel patterns it may be viewed on', () => {
    assert.throws(() => fragments({}), /apps\[0\]\.fragments\.names must list the fragments pages may view/);
    assert.throws(() => fragments({ names: {} }), /apps\[0\]\.fragments\.names must list at least one fragment/);
    assert.throws(
      () => fragments({ names: ['online-users'] }),
      /apps\[0\]\.fragments\.names \(an array\) must map each fragment name to the channel patterns/,
    );
    assert.throws(
      () => fragments({ names: { 'no way': ['x'] } }),
      /fragments\.names\["no way"\] must be a fragment name/,
    );
    assert.throws(() => fragments({ names: { a: [] } }), /fragments\.names\.a .*must list the channel patterns/);
    assert.throws(() => fragments({ names: { a: ['ok', 'a b'] } }), /fragments\.names\.a\[1\] .*channel name pattern/);
    assert.throws(() => fragments({ names: { a: ['x', 'x'] } }), /fragments\.names\.a\[1\] .*is listed twice/);
  });
});
