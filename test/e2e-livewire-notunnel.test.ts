/**
 * The browser client on a server without the Livewire tunnel: wiremesh with no `livewire` section
 * (it refuses `wiremesh:session`) and the reference Soketi (it ignores it). Echo works on the
 * socket, and Livewire's first update goes over HTTP at once, not after the client's session wait.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { CLIENT_SCRIPT, startFixtureApp, type FixtureApp } from './helpers/e2e-app.js';
import {
  CHROMIUM_MISSING,
  closeBrowser,
  gotoLivewire,
  launchChromium,
  openPage,
  waitForText,
} from './helpers/e2e-browser.js';
import { APP, startTestServer, type TestServer } from './helpers/server.js';
import { soketiMissing, startSoketi } from './helpers/soketi.js';

type FixtureWindow = Window & {
  pusher: { connection: { state: string } };
  wiremeshFixture: { mode: string; events: { type: string; reason?: string; detail?: string }[] };
};

describe('Livewire on a server without the tunnel (Chromium)', { skip: CHROMIUM_MISSING, timeout: 240_000 }, () => {
  let app: FixtureApp;
  let browser: Browser;
  let plain: TestServer;

  before(async () => {
    assert.ok(existsSync(CLIENT_SCRIPT), `${CLIENT_SCRIPT} is missing: run npm run build`);
    app = await startFixtureApp();
    plain = await startTestServer(); // the test app, no `livewire`
    browser = await launchChromium();
  });

  after(async () => {
    await closeBrowser(browser);
    await plain?.close();
    await app?.close();
  });

  async function firstUpdate(port: number, refused: RegExp, report: (line: string) => void): Promise<void> {
    await app.setState({ wiremesh: { host: '127.0.0.1', port, key: APP.key, transport: true } });
    const rec = await openPage(browser);
    try {
      await gotoLivewire(rec.page, `${app.url}/counter`);
      await rec.page.waitForFunction(
        () => (window as unknown as FixtureWindow).pusher.connection.state === 'connected',
      );
      assert.equal(await rec.page.evaluate(() => (window as unknown as FixtureWindow).wiremeshFixture.mode), 'socket');
      const started = Date.now();
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '1');
      const ms = Date.now() - started;
      report(`first update ${ms} ms`);
      assert.ok(ms < 1000, `the first update took ${ms} ms`);
      await rec.page.click('#increment');
      await waitForText(rec.page, '#count', '2');
      assert.equal(rec.updateRequests.length, 2, 'both updates over HTTP');
      const events = await rec.page.evaluate(() => (window as unknown as FixtureWindow).wiremeshFixture.events);
      const http = events.filter((e) => e.type === 'http');
      assert.equal(http.length, 2);
      assert.equal(http[0]!.reason, 'cookies-cannot-follow');
      assert.match(String(http[0]!.detail), refused);
    } finally {
      await rec.page.context().close();
    }
  }

  test('wiremesh without `livewire`: the first update goes over HTTP at once', { timeout: 60_000 }, async (t) => {
    await firstUpdate(plain.port, /refused wiremesh:session/, (l) => t.diagnostic(l));
  });

  test('Soketi 1.6: the first update goes over HTTP at once', { skip: soketiMissing(), timeout: 90_000 }, async (t) => {
    const soketi = await startSoketi([], 30_000);
    if ('skip' in soketi) return t.skip(soketi.skip);
    try {
      await firstUpdate(soketi.port, /no Livewire tunnel/, (l) => t.diagnostic(l));
    } finally {
      await soketi.stop();
    }
  });
});
