/**
 * The live dashboard in real headless Chromium, over two nodes on the in-memory bus: the page
 * loads behind its token, a wrong token is refused, it follows clients that connect to the
 * *other* node, finds a presence channel and its members, and stays right when that node dies.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { connected, pusherClient, serverSdk, type PusherClient } from './helpers/clients.js';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import {
  CHROMIUM_MISSING,
  closeBrowser,
  eventually,
  launchChromium,
  openPage,
  waitForText,
} from './helpers/e2e-browser.js';
import { StatsFeed } from '../src/dashboard/feed.js';
import { emptyAppStats } from '../src/dashboard/stats.js';

const TOKEN = 'dashboard-test-token-0123456789';
// The README's picture is refreshed with WIREMESH_DASHBOARD_SCREENSHOT=1; otherwise a test run
// leaves the tracked file alone and writes to the temporary directory.
const SCREENSHOT = process.env.WIREMESH_DASHBOARD_SCREENSHOT
  ? fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url))
  : join(tmpdir(), 'wiremesh-dashboard.png');

let cluster: TestCluster;
let browser: Browser | undefined;
const clients: PusherClient[] = [];

before(async () => {
  if (CHROMIUM_MISSING) return;
  cluster = await startTestCluster(2, { region: 'eu-west', dashboard: { enabled: true, port: 0, token: TOKEN } });
  browser = await launchChromium();
});

after(async () => {
  for (const c of clients) c.disconnect();
  await closeBrowser(browser);
  await cluster?.close();
});

const base = (): string => `http://127.0.0.1:${cluster.nodes[0]!.server.dashboardPort!}`;

const cellOf = (page: Page, selector: string): Promise<string> =>
  page.$eval(selector, (el) => el.textContent?.trim() ?? '');

test('a wrong or missing token is refused with 401', { skip: CHROMIUM_MISSING }, async () => {
  const page = (await openPage(browser!)).page;
  const wrong = await page.goto(`${base()}/?token=not-the-token-at-all-000`);
  assert.equal(wrong?.status(), 401);
  const none = await page.goto(`${base()}/api/cluster`);
  assert.equal(none?.status(), 401);
  const bearer = await fetch(`${base()}/api/cluster`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } });
  assert.equal(bearer.status, 401);
  const right = await fetch(`${base()}/api/cluster`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(right.status, 200);
  await page.context().close();
});

test(
  'the page follows clients on the other node, finds members, and marks a dead node',
  { skip: CHROMIUM_MISSING },
  async () => {
    const rec = await openPage(browser!);
    const page = rec.page;
    await page.setViewportSize({ width: 1400, height: 900 });
    const res = await page.goto(`${base()}/?token=${TOKEN}`);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar for a cookie');
    // Both nodes listed as up; the other node's stats arrive once it hears someone watches.
    await eventually('two nodes up', async () => (await page.$$('#nodes tbody tr td.up')).length === 2);
    const other = cluster.nodes[1]!.server.nodeId;
    await eventually(
      'the other node reports its region',
      async () => (await cellOf(page, `#nodes tr[data-node="${other}"] td:nth-child(2)`)) === 'eu-west',
    );

    // Three users join a presence channel on node 1 (not the node serving the page).
    const port = cluster.nodes[1]!.port;
    for (const user of ['alice', 'bob', 'carol']) {
      const c = pusherClient(port, { presence: () => ({ user_id: user }) });
      clients.push(c);
      await connected(c);
      c.subscribe('presence-room');
    }
    await waitForText(page, '#apps tr[data-app="app-id"] td.conns', '3');
    await waitForText(page, '#apps tr[data-app="app-id"] td.members', '3');
    await waitForText(page, `#nodes tr[data-node="${other}"] td:nth-child(6)`, '3');

    await page.fill('#q', 'room');
    await page.click('#channel-list li[data-channel="presence-room"]');
    await waitForText(page, '#members-title', 'presence-room: 3 members');
    const members = await page.$$eval('#member-list li', (lis) => lis.map((li) => li.textContent).sort());
    assert.deepEqual(members, ['alice', 'bob', 'carol']);
    // Events published through node 1's HTTP API show as API calls and messages out per second.
    const sdk = serverSdk(port);
    const publishing = setInterval(
      () => void sdk.trigger('presence-room', 'tick', { n: 1 }).catch(() => undefined),
      100,
    );
    try {
      await eventually(
        'API calls per second above 0',
        async () => Number(await cellOf(page, '#apps tr[data-app="app-id"] td:nth-child(8)')) > 0,
      );
      await eventually(
        'messages out per second above 0',
        async () => Number(await cellOf(page, '#apps tr[data-app="app-id"] td:nth-child(7)')) > 0,
      );
      await page.waitForTimeout(2_500); // more points on the charts
    } finally {
      clearInterval(publishing);
    }
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Node 1 dies without a goodbye: it turns down, and its connections and members leave the totals.
    for (const c of clients.splice(0)) c.disconnect();
    await cluster.nodes[1]!.server.stop('crash');
    await waitForText(page, `#nodes tr[data-node="${other}"] td:nth-child(4)`, 'down');
    await waitForText(page, '#apps tr[data-app="app-id"] td.conns', '0');
    await waitForText(page, '#apps tr[data-app="app-id"] td.members', '0');
    assert.deepEqual(rec.errors, []);
    await page.context().close();
  },
);

test('stats travel in heartbeats only while someone watches', () => {
  let now = 0;
  let peerWatching = false;
  const feed = new StatsFeed({
    collect: (watching) => ({
      v: 1,
      region: '',
      version: '',
      startedAt: 0,
      lagMs: 0,
      watching,
      apps: { a: emptyAppStats() },
    }),
    peerWatching: () => peerWatching,
    now: () => now,
  });
  assert.equal(feed.forHeartbeat(), undefined);
  peerWatching = true;
  assert.equal(feed.forHeartbeat()?.watching, false);
  peerWatching = false;
  feed.viewed();
  assert.equal(feed.forHeartbeat()?.watching, true);
  now = 20_000;
  assert.equal(feed.forHeartbeat(), undefined);
});
