/**
 * Livewire's handling of failures and redirects, as scenarios run once over plain HTTP (the
 * reference) and once over the wiremesh socket: each must end the same way in both.
 * All start on a fresh /faults page with `window.marker` set, so a full page load is visible.
 */
import assert from 'node:assert/strict';
import type { FixtureApp } from './e2e-app.js';
import { eventually, gotoLivewire, waitForErrorModal, waitForLivewire, type PageRecorder } from './e2e-browser.js';

export interface ScenarioContext {
  app: FixtureApp;
  rec: PageRecorder;
  /** Full page loads seen before the action. */
  loadsBefore: number;
}

export interface FaultScenario {
  name: string;
  /** What the scenario shows, for the test title. */
  shows: string;
  /** Reach /faults by wire:navigate from /counter instead of loading it. */
  viaNavigate?: boolean;
  /**
   * Update requests the browser itself sends over HTTP when the page uses the socket transport
   * (the client replays a 419 over HTTP by design, so the browser's own cookies decide). Default 0.
   */
  httpUpdatesOverSocket?: number;
  arrange?(ctx: ScenarioContext): Promise<void>;
  act(ctx: ScenarioContext): Promise<void>;
  check(ctx: ScenarioContext): Promise<void>;
}

/**
 * Resets the app's faults, opens /faults (directly, or from /counter by wire:navigate), waits for
 * Livewire and for `ready` (e.g. the socket), marks the window.
 */
export async function openFaultsPage(
  ctx: Omit<ScenarioContext, 'loadsBefore'>,
  scenario: FaultScenario,
  ready?: () => Promise<void>,
): Promise<ScenarioContext> {
  await ctx.app.setState({ faults: [], csrfFailure: 'redirect' });
  await gotoLivewire(ctx.rec.page, `${ctx.app.url}${scenario.viaNavigate ? '/counter' : '/faults'}`);
  if (ready) await ready();
  if (scenario.viaNavigate) {
    await ctx.rec.page.click('#to-faults');
    await ctx.rec.page.waitForSelector('#faults');
  }
  await ctx.rec.page.evaluate(() => {
    (window as unknown as { marker: number }).marker = 1;
  });
  return { ...ctx, loadsBefore: ctx.rec.loads.length };
}

async function markerSurvived(ctx: ScenarioContext): Promise<boolean> {
  return ctx.rec.page.evaluate(() => (window as unknown as { marker?: number }).marker === 1);
}

async function expectFullLoadOf(ctx: ScenarioContext, path: string): Promise<void> {
  const page = ctx.rec.page;
  await eventually(
    `a full page load of ${path}`,
    () => ctx.rec.loads.length > ctx.loadsBefore && new URL(page.url()).pathname === path,
  );
  await waitForLivewire(page);
  assert.equal(await markerSurvived(ctx), false, 'a full page load starts a new window');
  assert.equal(await page.locator('#livewire-error').count(), 0, 'no error modal');
}

async function expectErrorModal(ctx: ScenarioContext, text: string): Promise<void> {
  const body = await waitForErrorModal(ctx.rec.page);
  assert.match(body, new RegExp(text), 'the modal shows the response body');
  assert.equal(await markerSurvived(ctx), true, 'the page stays (no reload)');
  assert.equal(new URL(ctx.rec.page.url()).pathname, '/faults');
}

export const FAULT_SCENARIOS: FaultScenario[] = [
  {
    name: '500',
    shows: 'an action that throws: 500, Livewire shows the error page in its modal',
    act: async ({ rec }) => rec.page.click('#boom'),
    check: (ctx) => expectErrorModal(ctx, 'fixture boom: this action fails on purpose'),
  },
  {
    name: '403',
    shows: 'an action that aborts with 403: the modal shows the 403 body',
    act: async ({ rec }) => rec.page.click('#forbidden'),
    check: (ctx) => expectErrorModal(ctx, 'fixture forbidden: not allowed'),
  },
  {
    name: '419',
    shows: 'a wrong CSRF token answered 419 as Laravel does: the "page has expired" prompt, then the modal',
    arrange: async ({ app, rec }) => {
      await app.setState({ csrfFailure: '419' });
      await rec.page.evaluate(() => document.querySelector('[data-csrf]')!.setAttribute('data-csrf', 'not-the-token'));
    },
    act: async ({ rec }) => rec.page.click('#touch'),
    httpUpdatesOverSocket: 1,
    check: async (ctx) => {
      await eventually('the page-expired prompt', () => ctx.rec.dialogs.length > 0);
      assert.equal(ctx.rec.dialogs[0]!.type, 'confirm');
      assert.match(ctx.rec.dialogs[0]!.message, /This page has expired/);
      await expectErrorModal(ctx, 'Page Expired');
    },
  },
  {
    name: 'csrf-mismatch',
    shows: "a wrong CSRF token: AdonisJS's shield redirects back (302), fetch follows, Livewire reloads the page",
    arrange: async ({ rec }) =>
      rec.page.evaluate(() => document.querySelector('[data-csrf]')!.setAttribute('data-csrf', 'not-the-token')),
    act: async ({ rec }) => rec.page.click('#touch'),
    check: (ctx) => expectFullLoadOf(ctx, '/faults'),
  },
  {
    name: 'csrf-mismatch-after-navigate',
    shows: 'the same after wire:navigate from /counter: "back" is the current page, /faults',
    viaNavigate: true,
    arrange: async ({ rec }) =>
      rec.page.evaluate(() => document.querySelector('[data-csrf]')!.setAttribute('data-csrf', 'not-the-token')),
    act: async ({ rec }) => rec.page.click('#touch'),
    check: (ctx) => expectFullLoadOf(ctx, '/faults'),
  },
  {
    name: 'http-redirect',
    shows: 'the update endpoint answers 302 (as an auth middleware would): full navigation to the target',
    arrange: async ({ app }) => void (await app.setState({ faults: [{ redirect: '/other' }] })),
    act: async ({ rec }) => rec.page.click('#touch'),
    check: (ctx) => expectFullLoadOf(ctx, '/other'),
  },
  {
    name: 'effects-redirect',
    shows: "an action's $this->redirect('/other'): full navigation to /other",
    act: async ({ rec }) => rec.page.click('#go-other'),
    check: (ctx) => expectFullLoadOf(ctx, '/other'),
  },
  {
    name: 'effects-redirect-navigate',
    shows: "an action's redirect(navigate: true): SPA navigation, the window survives",
    act: async ({ rec }) => rec.page.click('#go-other-navigate'),
    check: async (ctx) => {
      await ctx.rec.page.waitForSelector('#other');
      assert.equal(new URL(ctx.rec.page.url()).pathname, '/other');
      assert.equal(await markerSurvived(ctx), true, 'wire:navigate keeps the window');
      assert.equal(ctx.rec.loads.length, ctx.loadsBefore, 'no full page load');
    },
  },
];
