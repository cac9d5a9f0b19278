/**
 * The browser's session over the socket (client/src/session.ts), end to end: headless Chromium, the
 * real Livewire 3 client, the AdonisJS fixture (session in a server-side store, the cookie names
 * it), two wiremesh nodes, the default `livewire` configuration. One scenario — log in inside a
 * Livewire update (regenerate + redirect with navigate), updates, the session rotated over plain
 * HTTP, updates, log out inside an update (clear + regenerate + navigate), a full load — run over
 * plain HTTP (the reference) and over the socket, in the same run. Both must end the same: the page
 * logged in and out at the same steps, the browser's cookie naming the same user, every update run
 * once with the session the browser held when it was sent, and no HTTP update request over the
 * socket. The requests each way cost are counted and printed.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import type { RecordedUpdate } from './helpers/e2e-app.js';
import { CHROMIUM_MISSING, gotoLivewire, waitForText } from './helpers/e2e-browser.js';
import { livewireSuite } from './helpers/e2e-suite.js';
import { APP } from './helpers/server.js';

type SessionUpdate = RecordedUpdate & { session?: { id: string; user: string | null } };
interface BrowserSession {
  id: string;
  user: string | null;
}
interface Outcome {
  /** What the page showed after each step. */
  shown: string[];
  /** Who the browser's cookie named after each step. */
  users: Array<string | null>;
  updates: number;
  /** Requests the page made, by `METHOD path` (app and wiremesh alike). */
  requests: Map<string, number>;
  syncs: number;
}

describe(
  'Livewire sessions over wiremesh (Chromium, two nodes, default config)',
  { skip: CHROMIUM_MISSING, timeout: 600_000 },
  () => {
    const suite = livewireSuite({
      app: (fixture) => ({ livewire: { backends: [fixture.url], publicUrl: fixture.url } }),
    });

    async function browserSession(page: Page): Promise<BrowserSession> {
      // The browser context's own cookie jar, without going through the page (nothing for the page to notice).
      const res = await page.context().request.get(`${suite.app.url}/_fixture/session`);
      return (await res.json()) as BrowserSession;
    }

    /** Runs `step`; every update it caused ran once, with the session the browser held just before it. */
    async function step(page: Page, what: string, action: () => Promise<void>, expectUpdates: number): Promise<void> {
      const before = await browserSession(page);
      const seen = (await suite.app.state()).updateCount;
      await action();
      const state = await suite.app.state();
      const fresh = state.updates.slice(state.updates.length - (state.updateCount - seen)) as SessionUpdate[];
      assert.equal(fresh.length, expectUpdates, `${what}: ${expectUpdates} update(s) reached the backend, each once`);
      for (const u of fresh)
        assert.equal(u.session?.id, before.id, `${what}: the update ran with the browser's session`);
    }

    async function scenario(t: TestContext, mode: 'socket' | 'http'): Promise<Outcome> {
      await suite.app.setState({
        wiremesh: { host: '127.0.0.1', port: suite.nodeB.port, key: APP.key, transport: mode === 'socket' },
        resetUpdates: true,
      });
      const rec = await suite.page();
      const { page } = rec;
      const requests = new Map<string, number>();
      page.on('request', (req) => {
        const url = new URL(req.url());
        if (url.pathname.startsWith('/_fixture/')) return;
        const key = `${req.method()} ${url.port === String(suite.app.port) ? '' : 'wiremesh'}${url.pathname}`;
        requests.set(key, (requests.get(key) ?? 0) + 1);
      });
      const shown: string[] = [];
      const users: Array<string | null> = [];
      const check = async (expected: string): Promise<void> => {
        await waitForText(page, '#user', expected);
        shown.push(expected);
        users.push((await browserSession(page)).user);
      };

      await gotoLivewire(page, `${suite.app.url}/login`);
      if (mode === 'socket') {
        await page.waitForFunction(
          () =>
            (window as unknown as { pusher: { connection: { state: string } } }).pusher.connection.state ===
            'connected',
        );
      }
      await check('guest');
      // 1. Log in inside a Livewire update: regenerate, then redirect with navigate to /whoami.
      await step(
        page,
        'login',
        async () => {
          await page.click('#login-button');
          await page.waitForURL(`${suite.app.url}/whoami`);
          await check('ada');
        },
        1,
      );
      // 2. Updates afterwards carry the new session.
      await step(
        page,
        'refresh after login',
        async () => {
          await page.click('#refresh');
          await waitForText(page, '#refreshes', '1');
          await check('ada');
        },
        1,
      );
      // 3. The session rotated over plain HTTP by the page, then updates.
      await step(
        page,
        'rotation over HTTP',
        async () => {
          const res = await page.evaluate(async () => {
            const csrf =
              (window as unknown as { livewireScriptConfig?: { csrf?: string } }).livewireScriptConfig?.csrf ??
              document.querySelector<HTMLElement>('[data-csrf]')?.dataset.csrf ??
              '';
            const r = await fetch('/session/rotate', { method: 'POST', headers: { 'x-csrf-token': csrf } });
            return r.status;
          });
          assert.equal(res, 200, 'the rotation request was accepted');
        },
        0,
      );
      await step(
        page,
        'refresh after the rotation',
        async () => {
          await page.click('#refresh');
          await waitForText(page, '#refreshes', '2');
          await check('ada');
        },
        1,
      );
      // 4. The session rotated in another tab (same browser), then updates in this one.
      const other = await page.context().newPage();
      await other.goto(`${suite.app.url}/whoami?wsPort=${suite.nodeA.port}`);
      await other.evaluate(async () => {
        const csrf =
          document.querySelector<HTMLElement>('[data-csrf]')?.dataset.csrf ??
          (window as unknown as { livewireScriptConfig?: { csrf?: string } }).livewireScriptConfig?.csrf ??
          '';
        await fetch('/session/rotate', { method: 'POST', headers: { 'x-csrf-token': csrf } });
      });
      await other.close();
      await step(
        page,
        'refresh after a rotation in another tab',
        async () => {
          await page.click('#refresh');
          await waitForText(page, '#refreshes', '3');
          await check('ada');
        },
        1,
      );
      // 5. Log out inside a Livewire update: clear, regenerate, redirect with navigate to /login.
      await step(
        page,
        'logout',
        async () => {
          await page.click('#logout');
          await page.waitForURL(`${suite.app.url}/login`);
          await check('guest');
        },
        1,
      );
      // 6. Logging in again right away: the logout cleared the session, CSRF secret included, and the
      // page wire:navigate brought carries the new token.
      await step(
        page,
        'login right after logout',
        async () => {
          await page.click('#login-button');
          await page.waitForURL(`${suite.app.url}/whoami`);
          await check('ada');
        },
        1,
      );
      await step(
        page,
        'logout again',
        async () => {
          await page.click('#logout');
          await page.waitForURL(`${suite.app.url}/login`);
          await check('guest');
        },
        1,
      );
      // 7. A full load, on the other node: logged out, and logging in again works.
      await gotoLivewire(page, `${suite.app.url}/whoami?wsPort=${suite.nodeA.port}`);
      await check('guest');
      await gotoLivewire(page, `${suite.app.url}/login?wsPort=${suite.nodeA.port}`);
      await step(
        page,
        'login again on node A',
        async () => {
          await page.click('#login-button');
          await page.waitForURL(`${suite.app.url}/whoami`);
          await check('ada');
        },
        1,
      );
      await gotoLivewire(page, `${suite.app.url}/whoami`);
      await check('ada');

      const events =
        (await page.evaluate(
          () =>
            (window as unknown as { wiremeshFixture: { events: { type: string; reason?: string }[] } }).wiremeshFixture
              .events,
        )) ?? [];
      const syncs = events.filter((e) => e.type === 'sync').length;
      assert.deepEqual(rec.errors, [], 'no page error');
      const updates = (await suite.app.state()).updateCount;
      t.diagnostic(
        `${mode}: ${updates} updates at the backend; requests ${[...requests].map(([k, v]) => `${k}×${v}`).join(', ')}; syncs in the last page ${syncs}`,
      );
      return { shown, users, updates, requests, syncs };
    }

    test(
      'log in, rotate, log out: over the socket as over HTTP, with the browser holding the same session',
      { timeout: 180_000 },
      async (t) => {
        const http = await scenario(t, 'http');
        const socket = await scenario(t, 'socket');
        assert.deepEqual(socket.shown, http.shown, 'the page was logged in and out at the same steps');
        assert.deepEqual(socket.users, http.users, "the browser's cookie named the same user after every step");
        assert.equal(socket.updates, http.updates, 'the same updates reached the backend: none lost, none twice');
        assert.equal(socket.requests.get('POST /livewire/update') ?? 0, 0, 'over the socket no update went over HTTP');
        assert.equal(
          http.requests.get('POST /livewire/update'),
          http.updates,
          'over HTTP every update was an HTTP request',
        );
        const syncRequests = socket.requests.get('POST wiremesh/wiremesh/session') ?? 0;
        assert.ok(
          syncRequests > 0 && syncRequests <= 2 * socket.updates + 4,
          `session syncs cost at most two per update (${syncRequests} for ${socket.updates} updates)`,
        );
        for (const [path, n] of http.requests) {
          if (path !== 'POST /livewire/update')
            assert.equal(socket.requests.get(path) ?? 0, n, `${path}: as many over the socket as over HTTP`);
        }
      },
    );
  },
);
