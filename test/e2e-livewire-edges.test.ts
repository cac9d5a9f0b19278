/**
 * Edges of the browser client met on real apps, in Chromium with the Livewire fixture
 * (test/fixtures/livewire-app) and one wiremesh with the tunnel: an update too large for one frame
 * goes over HTTP and is not lost; a refused channel authorization over the socket reaches Echo's
 * `.error()` with its HTTP status, as pusher-js's own HTTP authorizer gives it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { CLIENT_SCRIPT } from './helpers/e2e-app.js';
import { CHROMIUM_MISSING, gotoLivewire, waitForText, type PageRecorder } from './helpers/e2e-browser.js';
import { livewireSuite } from './helpers/e2e-suite.js';
import { APP, startTestServer, testApp, type TestServer } from './helpers/server.js';
import { track } from './helpers/track.js';

type FixtureWindow = Window & {
  pusher: { connection: { state: string } };
  wiremeshFixture: { mode: string; events: { type: string; reason?: string; detail?: string }[] };
};

describe('Livewire tunnel edges (Chromium)', { skip: CHROMIUM_MISSING, timeout: 240_000 }, () => {
  // The fixture app and Chromium; the one wiremesh node is this file's own (a frame limit of 64 KiB).
  const suite = livewireSuite();
  let srv: TestServer;

  before(async () => {
    assert.ok(existsSync(CLIENT_SCRIPT), `${CLIENT_SCRIPT} is missing: run npm run build`);
    const app = suite.app;
    srv = track(
      suite.scope,
      await startTestServer({
        limits: { maxFrameBytes: 64 * 1024 },
        apps: [
          testApp({
            livewire: {
              backends: [app.url],
              publicUrl: app.url,
              healthIntervalMs: 500,
              paths: ['/livewire/update', '/_fixture/auth'],
            },
          }),
        ],
      }),
    );
    await app.setState({ wiremesh: { host: '127.0.0.1', port: srv.port, key: APP.key, transport: true } });
  });

  async function counterPage(): Promise<PageRecorder> {
    const rec = await suite.page();
    await gotoLivewire(rec.page, `${suite.app.url}/counter`);
    await rec.page.waitForFunction(() => (window as unknown as FixtureWindow).pusher.connection.state === 'connected');
    assert.equal(await rec.page.evaluate(() => (window as unknown as FixtureWindow).wiremeshFixture.mode), 'socket');
    return rec;
  }

  test(
    'an update larger than the frame limit goes over HTTP, the socket stays, nothing is lost',
    { timeout: 60_000 },
    async () => {
      const rec = await counterPage();
      try {
        await rec.page.click('#increment');
        await waitForText(rec.page, '#count', '1');
        assert.equal(rec.updateRequests.length, 0, 'a small update rides the socket');
        const big = 'x'.repeat(100 * 1024);
        await rec.page.fill('#name', big);
        await waitForText(rec.page, '#name-length', String(big.length));
        assert.equal(rec.updateRequests.length, 1, 'the large one went over HTTP');
        await rec.page.click('#increment');
        await waitForText(rec.page, '#count', '2');
        const events = await rec.page.evaluate(() => (window as unknown as FixtureWindow).wiremeshFixture.events);
        const http = events.filter((e) => e.type === 'http');
        assert.ok(
          http.some((e) => e.reason === 'too-large' && /at most 65536/.test(String(e.detail))),
          JSON.stringify(http),
        );
        assert.equal(rec.websockets.length, 1, 'one socket for the whole page');
        assert.equal(rec.websockets[0]!.isClosed(), false, 'the socket was not dropped');
        assert.equal(srv.logs.filter((l) => l.includes('exceeded limits.maxFrameBytes')).length, 0);
      } finally {
        await rec.page.context().close();
      }
    },
  );

  test(
    "a 403 from channel authorization over the socket reaches Echo's .error() with status 403, as over HTTP",
    { timeout: 60_000 },
    async () => {
      const rec = await counterPage();
      const authOverHttp: string[] = [];
      rec.page.on('request', (r) => {
        if (r.url().includes('/_fixture/auth')) authOverHttp.push(r.url());
      });
      try {
        const statuses = await rec.page.evaluate(
          async ({ key, port }) => {
            type ErrorPayload = { type?: string; status?: number };
            type EchoChannel = { error(cb: (e: ErrorPayload) => void): EchoChannel };
            const w = window as unknown as {
              Pusher: new (key: string, options: Record<string, unknown>) => { disconnect(): void };
              Echo: { constructor: new (options: Record<string, unknown>) => { private(name: string): EchoChannel } };
              WiremeshLivewire: {
                socketChannelAuthorizer(t: unknown, options: { endpoint: string }): unknown;
                currentTransport(): unknown;
                installLivewireTransport(options: { pusher: unknown }): unknown;
              };
            };
            const EchoClass = w.Echo.constructor;
            const lib = w.WiremeshLivewire;
            const common = {
              wsHost: '127.0.0.1',
              wsPort: port,
              forceTLS: false,
              enabledTransports: ['ws'],
              cluster: 'mt1',
              disableStats: true,
            };
            const refusal = (channelAuthorization: Record<string, unknown>, tunnel: boolean) => {
              const pusher = new w.Pusher(key, { ...common, channelAuthorization });
              // As an app does it: the transport on Echo's own pusher-js socket (the last install wins).
              if (tunnel) lib.installLivewireTransport({ pusher });
              const echo = new EchoClass({ broadcaster: 'pusher', client: pusher });
              return new Promise<ErrorPayload>((resolve) => echo.private('forbidden').error(resolve)).finally(() =>
                pusher.disconnect(),
              );
            };
            const overHttp = await refusal({ endpoint: '/_fixture/auth', transport: 'ajax' }, false);
            const overSocket = await refusal(
              {
                endpoint: '/_fixture/auth',
                transport: 'ajax',
                customHandler: lib.socketChannelAuthorizer(lib.currentTransport, { endpoint: '/_fixture/auth' }),
              },
              true,
            );
            return { overHttp, overSocket };
          },
          { key: APP.key, port: srv.port },
        );
        assert.equal(statuses.overHttp.status, 403, 'pusher-js over HTTP gives the status');
        assert.equal(statuses.overSocket.type, 'AuthError');
        assert.equal(statuses.overSocket.status, 403, JSON.stringify(statuses.overSocket));
        assert.equal(authOverHttp.length, 1, 'only the reference used HTTP');
      } finally {
        await rec.page.context().close();
      }
    },
  );
});
