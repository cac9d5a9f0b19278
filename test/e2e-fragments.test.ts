/**
 * Shared fragments end to end: headless Chromium, the fixture AdonisJS Livewire app as the
 * upstream (it renders `online-users` at POST /_fixture/fragments and counts every render, with
 * the node that asked), two wiremesh nodes in one cluster, the browser client from
 * client/dist/wiremesh-livewire.js (installFragments, wired in the fixture's setup.js).
 *
 * Each user is a page in its own browser context, connected to node A or B; the fragment is the
 * online list of `presence-lobby`, so every page's own presence subscription is the change.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { serverSdk } from './helpers/clients.js';
import { CHROMIUM_MISSING, eventually, gotoLivewire, waitForText, type PageRecorder } from './helpers/e2e-browser.js';
import { livewireSuite } from './helpers/e2e-suite.js';
import type { TestServer } from './helpers/server.js';

const TEST_TIMEOUT = 60_000;

interface Render {
  at: number;
  node: string;
  fragment: string;
  channel: string;
  members: string[];
}

interface FragmentFixtureState {
  title: string;
  renders: Render[];
}

describe(
  'shared fragments (Chromium, two nodes, the fixture app renders)',
  { skip: CHROMIUM_MISSING, timeout: 600_000 },
  () => {
    const suite = livewireSuite({
      app: (fixture) => ({
        livewire: { backends: [fixture.url], publicUrl: fixture.url, healthIntervalMs: 500 },
        fragments: { path: '/_fixture/fragments', names: { 'online-users': ['presence-lobby'] }, windowMs: 100 },
      }),
    });
    const users = new Map<string, { rec: PageRecorder; node: TestServer }>();

    async function fixtureState(change?: Record<string, unknown>): Promise<FragmentFixtureState> {
      const res = await fetch(`${suite.app.url}/_fixture/fragment-state`, {
        method: change ? 'POST' : 'GET',
        ...(change ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(change) } : {}),
      });
      assert.equal(res.status, 200);
      return (await res.json()) as FragmentFixtureState;
    }

    async function join(user: string, node: TestServer): Promise<PageRecorder> {
      const rec = await suite.page();
      await rec.page.context().addCookies([{ name: 'fixture_user', value: user, url: suite.app.url }]);
      await gotoLivewire(rec.page, `${suite.app.url}/lobby?wsPort=${node.port}`);
      users.set(user, { rec, node });
      return rec;
    }

    async function leave(user: string): Promise<void> {
      const u = users.get(user)!;
      users.delete(user);
      await u.rec.page.context().close();
    }

    async function listOn(rec: PageRecorder): Promise<string[]> {
      return rec.page.$$eval('#online-list li', (els) => els.map((e) => e.getAttribute('data-user') ?? ''));
    }

    /** Every open page shows exactly the users that are open, sorted. */
    async function everyPageShowsEveryone(): Promise<void> {
      const expected = [...users.keys()].sort();
      for (const [user, { rec }] of users) {
        await eventually(
          `${user}'s page lists ${expected.join(',')}`,
          async () => (await listOn(rec)).join(',') === expected.join(','),
        );
      }
    }

    /** Waits until no render has happened for a while (coalescing windows and replication are over). */
    async function quiet(): Promise<Render[]> {
      let last = -1;
      for (let i = 0; i < 100; i++) {
        const renders = (await fixtureState()).renders;
        if (renders.length === last) return renders;
        last = renders.length;
        await new Promise((r) => setTimeout(r, 400));
      }
      throw new Error('renders never stopped');
    }

    function perNode(renders: Render[]): Record<string, number> {
      const names = new Map([
        [suite.nodeA.server.nodeId, 'A'],
        [suite.nodeB.server.nodeId, 'B'],
      ]);
      const out: Record<string, number> = {};
      for (const r of renders) {
        const name = names.get(r.node) ?? `unknown:${r.node}`;
        out[name] = (out[name] ?? 0) + 1;
      }
      return out;
    }

    /** Runs `change` and checks that it cost exactly one render on each node, for the right members. */
    async function oneRenderPerNode(what: string, change: () => Promise<void>): Promise<void> {
      await quiet();
      await fixtureState({ resetRenders: true });
      await change();
      await everyPageShowsEveryone();
      const renders = await quiet();
      assert.deepEqual(perNode(renders), { A: 1, B: 1 }, `${what}: one render per node (${JSON.stringify(renders)})`);
      const expected = [...users.keys()].sort();
      for (const r of renders) {
        assert.equal(r.fragment, 'online-users');
        assert.equal(r.channel, 'presence-lobby');
        assert.deepEqual(r.members, expected, `${what}: the render saw the channel's members`);
      }
    }

    test(
      'pages on both nodes show the online list; the page-rendered placeholder is replaced',
      { timeout: TEST_TIMEOUT },
      async () => {
        await join('alice', suite.nodeA);
        await join('bob', suite.nodeB);
        await join('carol', suite.nodeA);
        await join('dave', suite.nodeB);
        await everyPageShowsEveryone();
        for (const { rec } of users.values()) {
          assert.equal(await rec.page.$('#online-placeholder'), null, 'the placeholder is gone');
          assert.equal(await rec.page.textContent('#online-title'), 'Online');
          assert.deepEqual(rec.errors, []);
        }
        // No HTTP request for the fragment from any page: it came over the socket.
        const renders = await quiet();
        assert.ok(
          renders.every((r) => r.node === suite.nodeA.server.nodeId || r.node === suite.nodeB.server.nodeId),
          'renders were asked by the nodes',
        );
      },
    );

    test(
      'a user joining on node B: every page shows them, one render per node',
      { timeout: TEST_TIMEOUT },
      async () => {
        await oneRenderPerNode('eve joins on B', async () => {
          await join('eve', suite.nodeB);
        });
      },
    );

    test(
      'a user leaving on node A: every page drops them, one render per node',
      { timeout: TEST_TIMEOUT },
      async () => {
        await oneRenderPerNode('carol leaves A', () => leave('carol'));
      },
    );

    test('a user joining on node A and one leaving on node B', { timeout: TEST_TIMEOUT }, async () => {
      await oneRenderPerNode('frank joins on A', async () => {
        await join('frank', suite.nodeA);
      });
      await oneRenderPerNode('dave leaves B', () => leave('dave'));
    });

    test(
      'POST /apps/{id}/fragments/{name}/refresh through the pusher SDK re-renders on both nodes once',
      { timeout: TEST_TIMEOUT },
      async () => {
        await fixtureState({ title: 'Who is here' });
        await oneRenderPerNode('API refresh on node A', async () => {
          const sdk = serverSdk(suite.nodeA.port);
          // The SDK JSON-encodes `body` itself (its typings say string).
          await sdk.post({
            path: '/fragments/online-users/refresh',
            body: { channel: 'presence-lobby' } as unknown as string,
          });
          for (const [user, { rec }] of users)
            await waitForText(rec.page, '#online-title', 'Who is here').catch((err: unknown) =>
              assert.fail(`${user}: ${String(err)}`),
            );
        });
      },
    );

    test(
      'a Livewire component around the fragment and the fragment leave each other alone',
      { timeout: TEST_TIMEOUT },
      async () => {
        const alice = users.get('alice')!.rec;
        await alice.page.click('#lobby-bump');
        await waitForText(alice.page, '#lobby-clicks', '1');
        assert.ok((await listOn(alice)).length > 0, "the component's re-render kept the fragment (wire:ignore)");
        await oneRenderPerNode('george joins on B', async () => {
          await join('george', suite.nodeB);
        });
        assert.equal(await alice.page.textContent('#lobby-clicks'), '1', 'the morph left the component alone');
        await alice.page.click('#lobby-bump');
        await waitForText(alice.page, '#lobby-clicks', '2');
        assert.ok((await listOn(alice)).includes('george'));
        assert.deepEqual(alice.updateRequests, [], 'Livewire updates still went over the socket');
        assert.deepEqual(alice.errors, []);
      },
    );

    test(
      'wire:navigate away from the fragment leaves its presence channel: the others see member_removed',
      { timeout: TEST_TIMEOUT },
      async () => {
        const alice = users.get('alice')!.rec;
        type PresenceWindow = Window & {
          removed?: string[];
          pusher: {
            channel(name: string): { bind(event: string, cb: (m: { id: string }) => void): void } | undefined;
          };
        };
        await alice.page.evaluate(() => {
          const w = window as unknown as PresenceWindow;
          w.removed = [];
          w.pusher.channel('presence-lobby')!.bind('pusher:member_removed', (m) => w.removed!.push(m.id));
        });
        const henry = await join('henry', suite.nodeB);
        await everyPageShowsEveryone();
        const loads = henry.loads.length;
        await henry.page.click('#lobby-to-counter');
        await henry.page.waitForSelector('#counter');
        users.delete('henry');
        await eventually("alice's page sees henry leave", async () =>
          alice.page.evaluate(() => (window as unknown as PresenceWindow).removed!.includes('henry')),
        );
        await everyPageShowsEveryone();
        assert.equal(henry.loads.length, loads, 'wire:navigate, not a full page load');
        assert.equal(
          await henry.page.evaluate(() => (window as unknown as PresenceWindow).pusher.channel('presence-lobby')),
          undefined,
          "henry's page no longer holds the channel",
        );
        await henry.page.context().close();
      },
    );
  },
);
