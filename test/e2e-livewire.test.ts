/**
 * Livewire over wiremesh, end to end: headless Chromium, the real Livewire 3 client, the fixture
 * AdonisJS backend (test/fixtures/livewire-app), two wiremesh nodes in one cluster, the browser
 * client from client/dist/wiremesh-livewire.js installed on the page's pusher-js socket.
 *
 * Pages connect to node B (`nodes[1]`) unless a test says otherwise; broadcasts are published on
 * node A (`nodes[0]`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { serverSdk } from './helpers/clients.js';
import type { FixtureApp, RecordedUpdate } from './helpers/e2e-app.js';
import { CHROMIUM_MISSING, driveCounter, eventually, gotoLivewire, waitForText } from './helpers/e2e-browser.js';
import { FAULT_SCENARIOS, openFaultsPage } from './helpers/e2e-scenarios.js';
import { livewireSuite } from './helpers/e2e-suite.js';
import { APP, freePort, startTestServer, testApp, type TestServer } from './helpers/server.js';

const TEST_TIMEOUT = 60_000;

type FixtureWindow = Window & {
  pusher: {
    connection: { state: string; socket_id?: string };
    connect(): void;
    disconnect(): void;
    channel(name: string): { subscribed: boolean } | undefined;
  };
  wiremeshFixture: {
    mode: string;
    installError: string | null;
    events: { type: string; reason?: string; status?: number }[];
  };
  marker?: string;
};

/** Waits until the page's transport is installed and its pusher-js socket is connected; returns the socket id. */
async function waitForSocket(page: Page): Promise<string> {
  const fixture = await page.evaluate(() => (window as unknown as FixtureWindow).wiremeshFixture);
  assert.equal(fixture.installError, null, 'installLivewireTransport threw');
  assert.equal(
    fixture.mode,
    'socket',
    'the page installed the wiremesh transport (client/dist/wiremesh-livewire.js served?)',
  );
  await page.waitForFunction(() => (window as unknown as FixtureWindow).pusher.connection.state === 'connected');
  return page.evaluate(() => (window as unknown as FixtureWindow).pusher.connection.socket_id!);
}

/** The transport's routing decisions (session syncs left out: test/e2e-livewire-session.test.ts counts those). */
async function transportEvents(page: Page): Promise<FixtureWindow['wiremeshFixture']['events']> {
  const events = await page.evaluate(() => (window as unknown as FixtureWindow).wiremeshFixture.events);
  return events.filter((e) => e.type !== 'sync');
}

function livewireConfig(app: FixtureApp): Record<string, unknown> {
  return { backends: [app.url], publicUrl: app.url, healthIntervalMs: 500 };
}

describe('Livewire over wiremesh (Chromium, two nodes)', { skip: CHROMIUM_MISSING, timeout: 600_000 }, () => {
  const suite = livewireSuite({ app: (fixture) => ({ livewire: livewireConfig(fixture) }) });
  const { page } = suite;

  before(async () => {
    const wiremesh = { host: '127.0.0.1', port: suite.nodeB.port, key: APP.key, transport: true };
    await suite.app.setState({ wiremesh });
  });

  test(
    'updates go over the socket: no HTTP update request, the backend still gets them (via wiremesh)',
    { timeout: TEST_TIMEOUT },
    async () => {
      const rec = await page();
      await gotoLivewire(rec.page, `${suite.app.url}/counter`);
      const socketId = await waitForSocket(rec.page);
      await suite.app.setState({ resetUpdates: true });

      await driveCounter(rec.page, 'over the socket');

      assert.deepEqual(rec.updateRequests, [], 'the browser sent no update over HTTP');
      assert.equal(rec.websockets.length, 1);
      const state = await suite.app.state();
      assert.equal(state.updateCount, 3, 'the backend received the three updates');
      assert.deepEqual(
        state.updates.map((u) => u.components[0]?.calls),
        [['increment'], ['increment'], []],
      );
      assert.deepEqual(state.updates[2]!.components[0]!.updates, { name: 'over the socket' });
      assert.ok(
        state.updates.every((u) => u.headers['x-socket-id'] === socketId),
        'sent by wiremesh for this socket',
      );
      const events = await transportEvents(rec.page);
      assert.deepEqual(
        events.map((e) => `${e.type}:${e.status ?? e.reason}`),
        ['socket:200', 'socket:200', 'socket:200'],
      );
      assert.deepEqual(rec.errors, []);
    },
  );

  test(
    'the backend sees what it would see over HTTP: Referer of the current page, X-Socket-ID, client address, cookies',
    { timeout: TEST_TIMEOUT },
    async () => {
      const rec = await page();
      await gotoLivewire(rec.page, `${suite.app.url}/counter`);
      const socketId = await waitForSocket(rec.page);
      await rec.page.click('#to-other');
      await rec.page.waitForSelector('#other');
      await suite.app.setState({ resetUpdates: true });
      await rec.page.click('#bump');
      await waitForText(rec.page, '#other-clicks', '1');
      assert.deepEqual(rec.updateRequests, []);

      const seen: RecordedUpdate = (await suite.app.state()).updates[0]!;
      assert.equal(seen.headers['x-livewire'], '');
      assert.match(seen.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(
        seen.headers['x-socket-id'],
        socketId,
        'X-Socket-ID names the page socket (broadcast()->toOthers())',
      );
      assert.match(
        seen.headers['x-forwarded-for'] ?? '',
        /127\.0\.0\.1/,
        'X-Forwarded-For carries the browser address',
      );
      assert.equal(seen.ip, '127.0.0.1');
      assert.equal(seen.headers.origin, suite.app.url);
      assert.equal(seen.headers.cookie, '(present)', 'the session cookie (from the handshake)');
      assert.match(seen.headers['user-agent'] ?? '', /Chrome/);
      // fetch sends the document URL, which wire:navigate changed; Livewire's originalUrl() and
      // redirect()->back() read it.
      assert.equal(seen.headers.referer, `${suite.app.url}/other`, 'Referer: the current page');
    },
  );

  test('wire:navigate to /other and back keeps the same WebSocket and window', { timeout: TEST_TIMEOUT }, async () => {
    const rec = await page();
    await gotoLivewire(rec.page, `${suite.app.url}/counter`);
    const socketId = await waitForSocket(rec.page);
    await rec.page.evaluate(() => ((window as unknown as FixtureWindow).marker = 'kept'));
    const loads = rec.loads.length;

    await rec.page.click('#increment');
    await waitForText(rec.page, '#count', '1');
    await rec.page.click('#to-other');
    await rec.page.waitForSelector('#other');
    await rec.page.click('#bump');
    await waitForText(rec.page, '#other-clicks', '1');
    await rec.page.click('#to-counter');
    await rec.page.waitForSelector('#counter');
    await rec.page.click('#increment');
    await waitForText(rec.page, '#count', '1'); // a fresh Counter, mounted by the navigation

    assert.equal(
      await rec.page.evaluate(() => (window as unknown as FixtureWindow).pusher.connection.socket_id),
      socketId,
    );
    assert.equal(rec.websockets.length, 1, 'one WebSocket for the whole visit');
    assert.equal(await rec.page.evaluate(() => (window as unknown as FixtureWindow).marker), 'kept');
    assert.equal(rec.loads.length, loads, 'no full page load');
    assert.deepEqual(rec.updateRequests, [], 'updates on both pages went over the socket');
  });

  test(
    'a broadcast published on node A refreshes the listening component in browsers on both nodes',
    { timeout: TEST_TIMEOUT },
    async () => {
      const onB = await page();
      const onA = await page();
      await gotoLivewire(onB.page, `${suite.app.url}/status`);
      await gotoLivewire(onA.page, `${suite.app.url}/status?wsPort=${suite.nodeA.port}`);
      for (const rec of [onB, onA]) {
        await waitForSocket(rec.page);
        // Livewire's `echo:fixture-status,.status-changed` listener subscribed through window.Echo.
        await rec.page.waitForFunction(
          () => (window as unknown as FixtureWindow).pusher.channel('fixture-status')?.subscribed === true,
        );
      }
      const value = `shipped-${Math.random().toString(36).slice(2, 8)}`;
      await suite.app.setState({ status: value, resetUpdates: true });

      await serverSdk(suite.nodeA.port).trigger('fixture-status', 'status-changed', { order: 42 });

      for (const rec of [onB, onA]) {
        await waitForText(rec.page, '#status', value);
        await waitForText(rec.page, '#refreshes', '1');
        assert.match((await rec.page.textContent('#last-payload')) ?? '', /"order":42/);
        assert.deepEqual(rec.updateRequests, [], 'the refresh went over the socket');
      }
      const state = await suite.app.state();
      assert.equal(state.updateCount, 2, 'each browser pulled its own render');
      assert.deepEqual(
        state.updates.map((u) => u.components[0]?.calls),
        [['__dispatch'], ['__dispatch']],
      );
    },
  );

  test(
    'with the socket disconnected updates fall back to HTTP, and return to the socket after reconnecting',
    { timeout: TEST_TIMEOUT },
    async () => {
      const rec = await page();
      await gotoLivewire(rec.page, `${suite.app.url}/counter`);
      await waitForSocket(rec.page);
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '1');
      assert.equal(rec.updateRequests.length, 0);

      await rec.page.evaluate(() => (window as unknown as FixtureWindow).pusher.disconnect());
      await rec.page.waitForFunction(
        () => (window as unknown as FixtureWindow).pusher.connection.state === 'disconnected',
      );
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '2');
      await rec.page.fill('#name', 'plain http');
      await waitForText(rec.page, '#shout', 'PLAIN HTTP');
      assert.equal(rec.updateRequests.length, 2, 'both updates went over HTTP');

      await rec.page.evaluate(() => (window as unknown as FixtureWindow).pusher.connect());
      await waitForSocket(rec.page);
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '3');
      assert.equal(rec.updateRequests.length, 2, 'back on the socket');
      const events = await transportEvents(rec.page);
      assert.deepEqual(
        events.map((e) => `${e.type}:${e.status ?? e.reason}`),
        ['socket:200', 'http:not-connected', 'http:not-connected', 'socket:200'],
      );
    },
  );

  test('errors and redirects behave as over HTTP', { timeout: 240_000 }, async (t) => {
    for (const scenario of FAULT_SCENARIOS) {
      await t.test(scenario.shows, { timeout: TEST_TIMEOUT }, async (st) => {
        const rec = await page();
        try {
          const ctx = await openFaultsPage(
            { app: suite.app, rec },
            scenario,
            async () => void (await waitForSocket(rec.page)),
          );
          await scenario.arrange?.(ctx);
          await scenario.act(ctx);
          await scenario.check(ctx);
          assert.equal(
            rec.updateRequests.length,
            scenario.httpUpdatesOverSocket ?? 0,
            'update requests the browser sent over HTTP',
          );
        } catch (err) {
          const events = await transportEvents(rec.page).catch(() => 'unavailable');
          st.diagnostic(
            `url ${rec.page.url()}; loads ${JSON.stringify(rec.loads)}; transport events ${JSON.stringify(events)}`,
          );
          st.diagnostic(`page errors ${JSON.stringify(rec.errors)}; console ${JSON.stringify(rec.console.slice(-5))}`);
          const last = (await suite.app.state()).updates.at(-1);
          st.diagnostic(
            `last update at the backend: referer ${last?.headers.referer}, origin ${last?.headers.origin}, ip ${last?.ip}`,
          );
          throw err;
        } finally {
          await rec.page.context().close();
        }
      });
    }
  });

  test(
    'a full page load opens a new socket (documented: only wire:navigate keeps it)',
    { timeout: TEST_TIMEOUT },
    async () => {
      const rec = await page();
      await gotoLivewire(rec.page, `${suite.app.url}/counter`);
      const first = await waitForSocket(rec.page);
      await rec.page.reload();
      await rec.page.waitForFunction(() => (window as unknown as { Livewire?: unknown }).Livewire !== undefined);
      const second = await waitForSocket(rec.page);
      assert.notEqual(second, first);
      assert.equal(rec.websockets.length, 2);
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '1');
      assert.deepEqual(rec.updateRequests, []);
    },
  );
});

describe('Livewire over wiremesh when the node dies (Chromium)', { skip: CHROMIUM_MISSING, timeout: 120_000 }, () => {
  const suite = livewireSuite();
  let node: TestServer | undefined;
  after(async () => {
    await node?.close();
  });

  test(
    'updates fall back to HTTP while the node is down and return to the socket when it is back',
    { timeout: 90_000 },
    async () => {
      const port = await freePort();
      const config = { port, apps: [testApp({ livewire: livewireConfig(suite.app) })] };
      node = await startTestServer(config);
      await suite.app.setState({ wiremesh: { host: '127.0.0.1', port, key: APP.key, transport: true } });
      const rec = await suite.page();
      await gotoLivewire(rec.page, `${suite.app.url}/counter`);
      const first = await waitForSocket(rec.page);
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '1');

      await node.server.stop('crash');
      node = undefined;
      await rec.page.waitForFunction(
        () => (window as unknown as FixtureWindow).pusher.connection.state !== 'connected',
      );
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '2');
      assert.equal(rec.updateRequests.length, 1, 'the update went over HTTP while the node was down');

      node = await startTestServer(config);
      const second = await waitForSocketWithin(rec.page, 45_000);
      assert.notEqual(second, first);
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '3');
      assert.equal(rec.updateRequests.length, 1, 'back on the socket after pusher-js reconnected');
    },
  );
});

async function waitForSocketWithin(page: Page, timeoutMs: number): Promise<string> {
  await eventually(
    'pusher-js to reconnect',
    () => page.evaluate(() => (window as unknown as FixtureWindow).pusher.connection.state === 'connected'),
    timeoutMs,
  );
  return waitForSocket(page);
}
