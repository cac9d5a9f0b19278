/**
 * Livewire over wiremesh on a REAL Laravel app (test/fixtures/laravel-app on Debian's Laravel 10.48
 * and PHP 8.4, in the .ci/laravel root): Laravel's own `web` middleware (EncryptCookies, which gives
 * the session and XSRF-TOKEN cookies new values on every response, StartSession with the file,
 * database and cookie drivers, VerifyCsrfToken, auth), a Livewire-shaped `/livewire/update` behind
 * it, the real Livewire 3 client and the project's client in headless Chromium, two wiremesh nodes of one cluster (the page on one, Laravel broadcasting to the other),
 * the page's node tunnelling the updates, given the app's key (`livewire.laravelKey`) to tell a re-encrypted cookie
 * from a changed one: the page syncs its session only when the session really changed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CLIENT_SCRIPT } from './helpers/e2e-app.js';
import {
  CHROMIUM_MISSING,
  closeBrowser,
  eventually,
  gotoLivewire,
  launchChromium,
  openPage,
  waitForText,
  waitForLivewire,
  type PageRecorder,
} from './helpers/e2e-browser.js';
import { MemoryBus } from '../src/cluster/backends/memory.js';
import { FAST_CLUSTER } from './helpers/cluster.js';
import { laravelRig, startLaravel, type LaravelApp } from './helpers/laravel.js';
import { APP, freePort, startTestServer, testApp, type TestServer } from './helpers/server.js';

const rig = laravelRig();
const UPDATES = 20;
const TYPED = 10;

function spread(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number): string =>
    (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(1);
  return `median ${at(0.5)}, p90 ${at(0.9)}, max ${at(1)}`;
}

interface RigEvent {
  type: string;
  why?: string;
  set?: string[];
  reason?: string;
}

/** Laravel's session drivers: the id in the cookie (file, database) or the whole session (cookie). */
for (const driver of ['file', 'database', 'cookie'] as const) {
  describe(
    `Livewire on a real Laravel app through wiremesh (Chromium, Laravel 10 web middleware, ${driver} sessions)`,
    {
      skip:
        CHROMIUM_MISSING ||
        rig.skip ||
        (!existsSync(CLIENT_SCRIPT) && `${CLIENT_SCRIPT} is missing: run npm run build`),
      timeout: 300_000,
    },
    () => {
      let laravel: LaravelApp;
      let wiremesh: TestServer;
      /** The node PHP publishes to (its broadcasts reach the page's node through the cluster). */
      let phpNode: TestServer;
      let browser: Browser;
      const recs: PageRecorder[] = [];

      before(async () => {
        // Each needs the other's address; Laravel starts first, as in a deployment: a wiremesh started
        // before its upstream answers sends updates over HTTP until its next health check.
        // Two wiremesh nodes of one cluster: the page's socket on the first, PHP's broadcasts to the second.
        const [port, wsPort, apiPort] = [await freePort(), await freePort(), await freePort()];
        const origin = `http://127.0.0.1:${port}`;
        // The app's key, given to wiremesh too: it compares the cookies Laravel re-encrypts on every response.
        const appKey = `base64:${randomBytes(32).toString('base64')}`;
        laravel = await startLaravel(rig.root!, {
          port,
          env: {
            APP_KEY: appKey,
            PUSHER_APP_ID: APP.id,
            PUSHER_APP_KEY: APP.key,
            PUSHER_APP_SECRET: APP.secret,
            PUSHER_HOST: '127.0.0.1',
            PUSHER_PORT: String(apiPort),
            WIREMESH_PAGE_PORT: String(wsPort),
            SESSION_DRIVER: driver,
          },
        });
        const bus = new MemoryBus();
        const apps = [testApp({ livewire: { backends: [origin], publicUrl: origin, laravelKey: appKey } })];
        wiremesh = await startTestServer({ port: wsPort, nodeId: 'page', cluster: FAST_CLUSTER, apps }, { bus });
        phpNode = await startTestServer({ port: apiPort, nodeId: 'php', cluster: FAST_CLUSTER, apps }, { bus });
        browser = await launchChromium();
      });

      after(async () => {
        await Promise.all(
          recs.map((r) =>
            r.page
              .context()
              .close()
              .catch(() => undefined),
          ),
        );
        await closeBrowser(browser);
        await laravel?.close();
        await wiremesh?.close();
        await phpNode?.close();
      });

      /** A page on the app, its socket connected and the transport installed; counts the requests it makes. */
      async function openApp(): Promise<{
        rec: PageRecorder;
        page: Page;
        syncPosts: () => number;
        httpUpdates: () => number;
      }> {
        const rec = await openPage(browser);
        recs.push(rec);
        const { page } = rec;
        let syncPosts = 0;
        page.on('request', (req) => {
          const url = new URL(req.url());
          if (req.method() === 'POST' && url.port === String(wiremesh.port) && url.pathname === '/wiremesh/session')
            syncPosts++;
        });
        await gotoLivewire(page, laravel.url);
        await page.waitForFunction(
          () =>
            (window as unknown as { pusher?: { connection: { state: string } } }).pusher?.connection.state ===
            'connected',
        );
        const mode = await page.evaluate(
          () => (window as unknown as { wiremeshRig: { mode: string; installError: string | null } }).wiremeshRig,
        );
        assert.equal(
          mode.mode,
          'socket',
          `the page installed the wiremesh transport (${mode.installError ?? 'no error'})`,
        );
        return { rec, page, syncPosts: () => syncPosts, httpUpdates: () => rec.updateRequests.length };
      }

      /** Ends every session on the server, as their expiry or a cleared session store would. */
      async function expireSessions(): Promise<void> {
        if (driver === 'file') {
          const dir = join(laravel.dir, 'storage', 'framework', 'sessions');
          for (const f of readdirSync(dir)) if (!f.startsWith('.')) rmSync(join(dir, f));
        } else {
          await laravel.run([
            'php',
            '-r',
            "(new PDO('sqlite:database/database.sqlite'))->exec('DELETE FROM sessions');",
          ]);
        }
      }

      /** Clicks `#increment` UPDATES times (the session's count starting at `first`); the time each took to render, in ms. */
      async function clicks(page: Page, first: number): Promise<number[]> {
        const took: number[] = [];
        for (let i = 0; i < UPDATES; i++) {
          const start = performance.now();
          await page.click('#increment');
          await waitForText(page, '#count', String(i + 1));
          await waitForText(page, '#clicks', String(first + i));
          took.push(performance.now() - start);
        }
        return took;
      }

      /** Types TYPED characters into the `wire:model.live` field, one update each; returns how many. */
      async function typing(page: Page): Promise<number> {
        for (let i = 1; i <= TYPED; i++) {
          await page.fill('#name', 'x'.repeat(i));
          await waitForText(page, '#name-length', String(i));
        }
        return TYPED;
      }

      /** The sync POSTs since `before`, once the one a last response may have started is done. */
      async function settledSyncs(count: () => number, before: number): Promise<number> {
        await new Promise((r) => setTimeout(r, 500));
        return count() - before;
      }

      const events = (page: Page): Promise<RigEvent[]> =>
        page.evaluate(() => (window as unknown as { wiremeshRig: { events: RigEvent[] } }).wiremeshRig.events);

      test(`${UPDATES} updates over the socket, none over HTTP; the session value they keep survives a full load`, async (t) => {
        const { rec, page, syncPosts, httpUpdates } = await openApp();
        // 1. UPDATES clicks, each writing a value to the session (`clicks`), then TYPED keystrokes
        // into a `wire:model.live` field, which leave the session as it was.
        const before = syncPosts();
        const overSocket = await clicks(page, 1);
        const syncsWriting = await settledSyncs(syncPosts, before);
        const typed = await typing(page);
        const syncsUnchanged = (await settledSyncs(syncPosts, before)) - syncsWriting;
        const socketUpdates = (await events(page)).filter((e) => e.type === 'socket').length;
        const fellBack = (await events(page)).filter((e) => e.type !== 'socket' && e.type !== 'sync');
        t.diagnostic(
          `${UPDATES + typed} updates: ${socketUpdates} over the socket, ${httpUpdates()} over HTTP; POST /wiremesh/session: ${syncsWriting} for ${UPDATES} updates writing the session, ${syncsUnchanged} for ${typed} leaving it unchanged${fellBack.length ? `; ${JSON.stringify(fellBack)}` : ''}`,
        );
        assert.equal(httpUpdates(), 0, 'no update went over HTTP');
        assert.equal(socketUpdates, UPDATES + typed, 'every update went over the socket');
        assert.deepEqual(rec.errors, [], 'no page error');

        // 2. The session the updates wrote (clicks) is the browser's: a full load renders it.
        await gotoLivewire(page, laravel.url);
        await waitForText(page, '#clicks', String(UPDATES));

        // 3. For comparison, the same clicks over HTTP (PHP's built-in server: a new connection each).
        await page.evaluate(() => (window as unknown as { wiremeshTransport: () => void }).wiremeshTransport());
        const overHttp = await clicks(page, UPDATES + 1);
        assert.equal(httpUpdates(), UPDATES, 'without the transport, every update was an HTTP request');
        t.diagnostic(`click to render, ms: over the socket ${spread(overSocket)}; over HTTP ${spread(overHttp)}`);

        // Where the session lives in a cookie (the cookie driver), an update that writes it really
        // changes a cookie the browser must get; with the file and database drivers it changes none.
        const expectWriting = driver === 'cookie' ? UPDATES : 0;
        assert.equal(
          syncsUnchanged,
          0,
          `${syncsUnchanged} POST /wiremesh/session for ${typed} updates leaving the session unchanged`,
        );
        assert.ok(
          syncsWriting <= expectWriting,
          `${syncsWriting} POST /wiremesh/session for ${UPDATES} updates writing the session (at most ${expectWriting})`,
        );
      });

      test('log in through the socket (session regenerated), then a full page load shows the user; log out likewise', async () => {
        const { rec, page, httpUpdates } = await openApp();
        await waitForText(page, '#user', 'guest');

        // Livewire's redirect effect after the login: a full load of `/`, which must carry the new session.
        const loaded = page.waitForEvent('load');
        await page.click('#login-redirect');
        await loaded;
        await waitForLivewire(page);
        await waitForText(page, '#user', 'Ada');
        assert.equal((await (await page.context().request.get(`${laravel.url}/whoami`)).json()).user, 'Ada');

        // Log out inside an update (invalidate + new token), no redirect: once the browser holds the
        // cookies the update set, a full load is logged out.
        const sessionSyncs = async (): Promise<number> =>
          (await events(page)).filter(
            (e) => e.type === 'sync' && e.why === 'server-set' && e.set?.includes('laravel_session'),
          ).length;
        const synced = await sessionSyncs();
        await page.click('#logout');
        await waitForText(page, '#who', 'guest');
        await eventually('the new session cookie to reach the browser', async () => (await sessionSyncs()) > synced);
        await page.reload();
        await waitForText(page, '#user', 'guest');
        assert.equal(httpUpdates(), 0, 'no update went over HTTP');
        assert.deepEqual(rec.errors, [], 'no page error');
      });

      test('the session regenerated over HTTP, then updates over the socket run with the new session', async () => {
        const { rec, page, httpUpdates } = await openApp();
        await page.click('#increment');
        await waitForText(page, '#clicks', '1');
        // Laravel renews the CSRF token with the session: the page takes the new one (Livewire reads the meta tag on every request).
        const status = await page.evaluate(async () => {
          const meta = document.querySelector('meta[name="csrf-token"]')!;
          const res = await fetch('/session/regenerate', {
            method: 'POST',
            headers: { 'X-CSRF-TOKEN': meta.getAttribute('content') ?? '' },
          });
          meta.setAttribute('content', ((await res.json()) as { token: string }).token);
          return res.status;
        });
        assert.equal(status, 200, 'the regeneration was accepted');
        for (const n of ['2', '3']) {
          await page.click('#increment');
          await waitForText(page, '#clicks', n);
        }
        const fellBack = (await events(page)).filter((e) => e.type === 'http');
        assert.deepEqual(fellBack, [], 'no update fell back to HTTP (a 419 would have)');
        assert.equal(httpUpdates(), 0, 'no update went over HTTP');
        assert.deepEqual(rec.errors, [], 'no page error');
      });

      test("a broadcast from PHP (Laravel's broadcaster) on another node reaches Echo on a public channel and a private one authorized over the socket", async () => {
        const { rec, page } = await openApp();
        let authOverHttp = 0;
        page.on('request', (req) => {
          if (new URL(req.url()).pathname === '/broadcasting/auth') authOverHttp++;
        });
        // Logged in through the socket, then home (Livewire's redirect): the page has the renewed CSRF token.
        const loaded = page.waitForEvent('load');
        await page.click('#login-redirect');
        await loaded;
        await waitForLivewire(page);
        await waitForText(page, '#user', 'Ada');
        await page.waitForFunction(
          () =>
            (window as unknown as { pusher?: { connection: { state: string } } }).pusher?.connection.state ===
            'connected',
        );
        await page.evaluate(() => {
          interface Listenable {
            listen(event: string, cb: (e: { id: number }) => void): Listenable;
          }
          const w = window as unknown as {
            Echo: { channel(name: string): Listenable; private(name: string): Listenable };
            shipped: string[];
          };
          w.shipped = [];
          w.Echo.channel('orders').listen('OrderShipped', (e) => w.shipped.push(`public ${e.id}`));
          w.Echo.private('orders').listen('OrderShipped', (e) => w.shipped.push(`private ${e.id}`));
        });
        await page.waitForFunction(() => {
          const pusher = (window as unknown as { pusher: { channel(n: string): { subscribed: boolean } | undefined } })
            .pusher;
          return ['orders', 'private-orders'].every((n) => pusher.channel(n)?.subscribed === true);
        });
        const status = await page.evaluate(async () => {
          const token = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
          const res = await fetch('/orders/7/ship', {
            method: 'POST',
            headers: { 'X-CSRF-TOKEN': token, Accept: 'application/json' },
          });
          return { code: res.status, body: (await res.text()).slice(0, 500) };
        });
        assert.equal(status.code, 200, `Laravel broadcast the event (a failed publish is a 500): ${status.body}`);
        await page.waitForFunction(() => (window as unknown as { shipped: string[] }).shipped.length >= 2);
        const shipped = await page.evaluate(() => (window as unknown as { shipped: string[] }).shipped);
        assert.deepEqual([...shipped].sort(), ['private 7', 'public 7']);
        assert.equal(authOverHttp, 0, 'the private channel was authorized over the socket');
        assert.deepEqual(rec.errors, [], 'no page error');
      });

      test(
        'an expired session: one "page expired" prompt, as over HTTP',
        { skip: driver === 'cookie' && 'a cookie session cannot be expired on the server' },
        async () => {
          const { rec, page } = await openApp();
          await page.click('#increment');
          await waitForText(page, '#count', '1');
          await expireSessions();
          await page.click('#increment');
          await eventually('the page-expired prompt', () => rec.dialogs.length > 0);
          await new Promise((r) => setTimeout(r, 500));
          assert.deepEqual(
            rec.dialogs.map((d) => d.message),
            ['This page has expired.\nWould you like to refresh the page?'],
            'exactly one prompt',
          );
          const reasons = (await events(page)).filter((e) => e.type === 'http').map((e) => e.reason);
          assert.deepEqual(
            reasons,
            ['expired-419'],
            "the tunnelled 419 was replayed over HTTP once, with the browser's cookies",
          );
          await waitForText(page, '#count', '1');
        },
      );
    },
  );
}
