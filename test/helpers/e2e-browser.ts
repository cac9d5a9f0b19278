/**
 * Headless Chromium for end-to-end tests: Debian's `chromium` package driven by `playwright-core`
 * (no browser download). Tests skip, with `CHROMIUM_MISSING` as the reason, only when it is absent.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Dialog, type Page, type WebSocket } from 'playwright-core';

export const CHROMIUM_PATH = process.env.WIREMESH_CHROMIUM ?? '/usr/bin/chromium';

/** A skip reason when Chromium is not installed, else false. */
export const CHROMIUM_MISSING: string | false = existsSync(CHROMIUM_PATH)
  ? false
  : `headless Chromium not found at ${CHROMIUM_PATH} (Debian: apt-get install chromium)`;

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Every wait in a browser test is bounded by this unless it says otherwise. */
export const BROWSER_TIMEOUT_MS = 10_000;

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: FLAGS, timeout: 30_000 });
}

/** Closes the browser; if that hangs, gives up after a few seconds (the process dies with us). */
export async function closeBrowser(browser: Browser | undefined): Promise<void> {
  if (!browser) return;
  await Promise.race([browser.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
}

/** What one page did on the network and in its console, for assertions. */
export interface PageRecorder {
  page: Page;
  /** POSTs to Livewire's update endpoint that the browser itself made (i.e. over HTTP). */
  updateRequests: string[];
  /** WebSockets the page opened (each is a new connection). */
  websockets: WebSocket[];
  /** Main-frame navigations (full loads; wire:navigate only pushes history and does not count). */
  loads: string[];
  dialogs: { type: string; message: string }[];
  errors: string[];
  console: string[];
  /** Closes the page's context; a context the test closed already is fine. */
  close(): Promise<void>;
}

/** Opens a page in a fresh context (own cookies) and records what it does. Dialogs are dismissed. */
export async function openPage(browser: Browser): Promise<PageRecorder> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(BROWSER_TIMEOUT_MS);
  const rec: PageRecorder = {
    page,
    updateRequests: [],
    websockets: [],
    loads: [],
    dialogs: [],
    errors: [],
    console: [],
    close: () => context.close().catch(() => undefined),
  };
  page.on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname.endsWith('/update')) rec.updateRequests.push(req.url());
  });
  page.on('websocket', (ws) => rec.websockets.push(ws));
  page.on('load', () => rec.loads.push(page.url()));
  page.on('dialog', (dialog: Dialog) => {
    rec.dialogs.push({ type: dialog.type(), message: dialog.message() });
    dialog.dismiss().catch(() => undefined);
  });
  page.on('pageerror', (err) => rec.errors.push(err.message));
  page.on('console', (msg) => rec.console.push(`${msg.type()}: ${msg.text()}`));
  return rec;
}

/** Loads a Livewire page and waits until Livewire has started its components. */
export async function gotoLivewire(page: Page, url: string): Promise<void> {
  await page.goto(url, { waitUntil: 'load' });
  await waitForLivewire(page);
}

export async function waitForLivewire(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const lw = (window as unknown as { Livewire?: { all(): unknown[] } }).Livewire;
    return lw !== undefined && lw.all().length > 0;
  });
}

/** Waits until the element's text is `expected`; fails with the text it last had. */
export async function waitForText(
  page: Page,
  selector: string,
  expected: string,
  timeoutMs = BROWSER_TIMEOUT_MS,
): Promise<void> {
  try {
    await page.waitForFunction(
      ([sel, want]) => document.querySelector(sel)?.textContent?.trim() === want,
      [selector, expected] as const,
      { timeout: timeoutMs },
    );
  } catch (err) {
    const actual = await page.textContent(selector, { timeout: 1_000 }).catch(() => '(element missing)');
    throw new Error(`${selector}: expected text ${JSON.stringify(expected)}, still ${JSON.stringify(actual?.trim())}`, {
      cause: err,
    });
  }
}

/**
 * The counter page's round trips: two clicks on `#increment` (count 1, then 2), then `name` typed
 * into the `wire:model.live` field (shouted back upper-cased, with its length): three updates.
 */
export async function driveCounter(page: Page, name: string): Promise<void> {
  await page.click('#increment');
  await waitForText(page, '#count', '1');
  await page.click('#increment');
  await waitForText(page, '#count', '2');
  await page.fill('#name', name);
  await waitForText(page, '#shout', name.toUpperCase());
  await waitForText(page, '#name-length', String(name.length));
}

/** The text of Livewire's error modal (`#livewire-error`, an iframe with the response HTML), or null. */
export async function errorModalText(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const modal = document.getElementById('livewire-error');
    if (!modal) return null;
    const frame = modal.querySelector('iframe');
    return (frame?.contentDocument?.body?.innerText ?? modal.innerText).trim();
  });
}

export async function waitForErrorModal(page: Page): Promise<string> {
  await page.waitForSelector('#livewire-error iframe', { state: 'attached' });
  await page.waitForFunction(() => {
    const frame = document.querySelector<HTMLIFrameElement>('#livewire-error iframe');
    return (frame?.contentDocument?.body?.innerText ?? '').trim().length > 0;
  });
  return (await errorModalText(page)) ?? '';
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = BROWSER_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
