/**
 * The browser client on a server without the Livewire tunnel: wiremesh with no `livewire` section
 * (it refuses `wiremesh:session`) and the reference Soketi (it ignores it). Echo works on the
 * socket, and Livewire's first update goes over HTTP at once, not after the client's session wait.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { CLIENT_SCRIPT } from './helpers/e2e-app.js';
import { CHROMIUM_MISSING, gotoLivewire, waitForText } from './helpers/e2e-browser.js';
import { livewireSuite } from './helpers/e2e-suite.js';
import { APP, startTestServer, type TestServer } from './helpers/server.js';
import { soketiMissing, startSoketi } from './helpers/soketi.js';
import { track } from './helpers/track.js';

type FixtureWindow = Window & {
  pusher: { connection: { state: string } };
  wiremeshFixture: { mode: string; events: { type: string; reason?: string; detail?: string }[] };
};

describe('Livewire on a server without the tunnel (Chromium)', { skip: CHROMIUM_MISSING, timeout: 240_000 }, () => {
  // The fixture app and Chromium; the servers are this file's own (none with a tunnel).
  const suite = livewireSuite();
  let plain: TestServer;

  before(async () => {
    assert.ok(existsSync(CLIENT_SCRIPT), `${CLIENT_SCRIPT} is missing: run npm run build`);
    plain = track(suite.scope, await startTestServer()); // the test app, no `livewire`
  });

  async function firstUpdate(port: number, refused: RegExp, report: (line: string) => void): Promise<void> {
    await suite.app.setState({ wiremesh: { host: '127.0.0.1', port, key: APP.key, transport: true } });
    const rec = await suite.page();
    try {
      await gotoLivewire(rec.page, `${suite.app.url}/counter`);
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
