/**
 * Does a SharedWorker (and a WebSocket it holds) survive a full page load in Chromium? The answer
 * decides what the client's optional SharedWorker mode can promise; it is written up in
 * test/fixtures/SHAREDWORKER.md. Probe: test/fixtures/sharedworker (a page and a worker that
 * reports its start time, a random instance id and how many documents connected).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { REPO_ROOT } from './helpers/e2e-app.js';
import { BROWSER_TIMEOUT_MS, CHROMIUM_MISSING } from './helpers/e2e-browser.js';
import { browserSuite, startSite } from './helpers/e2e-suite.js';
import { track } from './helpers/track.js';

const PROBE_DIR = join(REPO_ROOT, 'test', 'fixtures', 'sharedworker');

interface WorkerInfo {
  instance: string;
  startedAt: number;
  connects: number;
  socketState: number | null;
}

describe('SharedWorker across full page loads (Chromium)', { skip: CHROMIUM_MISSING, timeout: 120_000 }, () => {
  const chromium = browserSuite();
  let base: string;
  let wsUrl: string;
  let socketsOpened = 0;

  before(async () => {
    const site = track(
      chromium.scope,
      await startSite({
        '/': { type: 'text/html', file: join(PROBE_DIR, 'index.html') },
        '/worker.js': { type: 'text/javascript', file: join(PROBE_DIR, 'worker.js') },
      }),
    );
    const wss = new WebSocketServer({ server: site.server, path: '/ws' });
    wss.on('connection', () => socketsOpened++);
    track(chromium.scope, {
      close() {
        for (const client of wss.clients) client.terminate();
        wss.close();
      },
    });
    base = site.url;
    wsUrl = `${site.url.replace('http:', 'ws:')}/ws`;
  });

  async function info(page: Page): Promise<WorkerInfo> {
    await page.waitForFunction(() => (window as unknown as { swInfo: unknown }).swInfo !== null, null, {
      timeout: BROWSER_TIMEOUT_MS,
    });
    return page.evaluate(() => (window as unknown as { swInfo: WorkerInfo }).swInfo);
  }

  async function newPage(): Promise<Page> {
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
    return page;
  }

  test(
    'a plain SharedWorker, and its WebSocket, die with the only page using it: a reload starts a new one',
    { timeout: 30_000 },
    async () => {
      const page = await newPage();
      try {
        const opened = socketsOpened;
        await page.goto(`${base}/?ws=${encodeURIComponent(wsUrl)}`);
        const first = await info(page);
        await page.reload();
        const second = await info(page);
        assert.notEqual(second.instance, first.instance, 'a new worker instance after the reload');
        assert.ok(second.startedAt > first.startedAt);
        assert.equal(second.connects, 1);
        await page.goto(`${base}/?ws=${encodeURIComponent(wsUrl)}&other=1`);
        const third = await info(page);
        assert.notEqual(third.instance, second.instance, 'a same-origin navigation also starts a new one');
        assert.equal(socketsOpened - opened, 3, 'each worker opened its own WebSocket');
      } finally {
        await page.context().close();
      }
    },
  );

  test(
    'a plain SharedWorker survives a reload while another tab of the origin still uses it',
    { timeout: 30_000 },
    async () => {
      const page = await newPage();
      try {
        await page.goto(base);
        const first = await info(page);
        const other = await page.context().newPage();
        await other.goto(base);
        assert.equal((await info(other)).instance, first.instance, 'both tabs share one worker');
        await page.reload();
        const afterReload = await info(page);
        assert.equal(afterReload.instance, first.instance, 'kept alive by the other tab');
        assert.equal(afterReload.connects, 3);
      } finally {
        await page.context().close();
      }
    },
  );

  test(
    'extendedLifetime: true keeps the worker and its WebSocket across reloads and navigations',
    { timeout: 30_000 },
    async (t) => {
      const page = await newPage();
      try {
        const opened = socketsOpened;
        const url = `${base}/?extended=1&ws=${encodeURIComponent(wsUrl)}`;
        await page.goto(url);
        const first = await info(page);
        if (
          !(await page.evaluate(
            () => (window as unknown as { swExtendedLifetimeRead: boolean }).swExtendedLifetimeRead,
          ))
        ) {
          t.skip('this Chromium does not know the SharedWorker extendedLifetime option');
          return;
        }
        await page.reload();
        const second = await info(page);
        await page.goto(`${url}&other=1`);
        const third = await info(page);
        await page.goto('about:blank');
        await page.goto(url);
        const fourth = await info(page);
        assert.deepEqual(
          [second, third, fourth].map((i) => i.instance),
          [first.instance, first.instance, first.instance],
          'the same worker instance after a reload, a navigation, and a detour through about:blank',
        );
        assert.equal(fourth.connects, 4);
        assert.equal(fourth.socketState, 1, "the worker's WebSocket is still open");
        assert.equal(socketsOpened - opened, 1, 'one WebSocket for all four page loads');
      } finally {
        await page.context().close();
      }
    },
  );
});
