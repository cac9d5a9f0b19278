/**
 * The set-up the browser tests share, for the describe whose body calls it: Chromium, and for the
 * Livewire tests the fixture app with two wiremesh nodes tunnelling to it. Started in the
 * describe's `before` hooks (before the file's own, which are registered after), closed when the
 * describe ends whether its tests passed or not: pages first, then the browser, the nodes, the app.
 * A test file keeps only its own pages, pieces and assertions; `startSite` serves its page.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { before } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestCluster, type TestCluster } from './cluster.js';
import { CLIENT_SCRIPT, startFixtureApp, type FixtureApp } from './e2e-app.js';
import { closeBrowser, launchChromium, openPage, type PageRecorder } from './e2e-browser.js';
import { testApp, type TestServer } from './server.js';
import { suiteScope, track, type Scope } from './track.js';

export interface BrowserSuite {
  /** Headless Chromium, once the describe's `before` hooks have run. */
  readonly browser: Browser;
  /** The describe's scope: what is tracked in it closes when the describe ends. */
  readonly scope: Scope;
  /** A page in a fresh context (own cookies), recording what it does; closed when the describe ends. */
  page(): Promise<PageRecorder>;
}

export function browserSuite(scope: Scope = suiteScope()): BrowserSuite {
  let browser: Browser | undefined;
  before(async () => {
    const launched = await launchChromium();
    track(scope, { close: () => closeBrowser(launched) });
    browser = launched;
  });
  return {
    get browser() {
      return started(browser, 'the browser');
    },
    scope,
    async page() {
      return track(scope, await openPage(started(browser, 'the browser')));
    },
  };
}

export interface LivewireSuite extends BrowserSuite {
  /** The AdonisJS Livewire app (test/fixtures/livewire-app). */
  readonly app: FixtureApp;
  /** The two wiremesh nodes, when the suite was asked for them. */
  readonly cluster: TestCluster;
  readonly nodeA: TestServer;
  readonly nodeB: TestServer;
}

/**
 * The fixture Livewire app and Chromium; with `nodes`, also two wiremesh nodes (an in-memory
 * cluster) whose test app is `nodes.app(fixture)`, e.g. a `livewire` section tunnelling to it,
 * and the built browser client they serve.
 */
export function livewireSuite(nodes?: { app: (fixture: FixtureApp) => Record<string, unknown> }): LivewireSuite {
  const scope = suiteScope();
  let app: FixtureApp | undefined;
  let cluster: TestCluster | undefined;
  before(async () => {
    if (nodes) assert.ok(existsSync(CLIENT_SCRIPT), `${CLIENT_SCRIPT} is missing: run npm run build`);
    app = track(scope, await startFixtureApp());
    if (nodes) cluster = track(scope, await startTestCluster(2, { apps: [testApp(nodes.app(app))] }));
  });
  const chromium = browserSuite(scope);
  const node = (i: number): TestServer => started(started(cluster, 'the wiremesh nodes').nodes[i], `node ${i}`);
  return {
    get app() {
      return started(app, 'the fixture app');
    },
    get cluster() {
      return started(cluster, 'the wiremesh nodes');
    },
    get nodeA() {
      return node(0);
    },
    get nodeB() {
      return node(1);
    },
    get browser() {
      return chromium.browser;
    },
    scope,
    page: () => chromium.page(),
  };
}

/** A page's files: its body (inline, or the file at that path on disk) and content type, by URL path. */
export type SiteFiles = Record<string, { type: string; inline: string } | { type: string; file: string }>;

export interface Site {
  /** e.g. `http://127.0.0.1:41234`. */
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** Serves `files` on 127.0.0.1 (a free port); any other path is 404. */
export async function startSite(files: SiteFiles): Promise<Site> {
  const server = http.createServer((req, res) => {
    const entry = files[new URL(req.url ?? '/', 'http://site').pathname];
    if (entry === undefined) return void res.writeHead(404).end();
    const body = 'inline' in entry ? Promise.resolve(entry.inline) : readFile(entry.file);
    body.then(
      (content) => res.writeHead(200, { 'content-type': entry.type }).end(content),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    async close() {
      server.closeAllConnections();
      if (!server.listening) return;
      server.close();
      await once(server, 'close');
    },
  };
}

function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not there: it starts in the describe's before hook`);
  return value;
}
