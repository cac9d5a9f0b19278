/**
 * The resume helper (client/src/resume.ts) in a real browser: headless Chromium loads pusher-js,
 * laravel-echo and the browser client bundle (client/dist/wiremesh-livewire.js), turns on
 * `enableResume` on Echo's pusher-js socket and listens through Echo. Each page reaches the
 * two-node cluster through a SwitchProxy, so the test cuts its socket mid-stream (a network switch)
 * and picks the node it comes back to. Every page must end with every number once, in order, and no
 * `wiremesh:gap`.
 *
 * On every store: the nodes' own memory (two in-process nodes), Redis Streams (two `wiremesh
 * start` processes on the redis driver) and NATS JetStream (the same on the nats driver).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { serverSdk, sleep } from './helpers/clients.js';
import { startTestCluster } from './helpers/cluster.js';
import { processCluster } from './cluster/processes.js';
import { CLIENT_SCRIPT, REPO_ROOT } from './helpers/e2e-app.js';
import { CHROMIUM_MISSING, eventually, type PageRecorder } from './helpers/e2e-browser.js';
import { browserSuite, startSite, type SiteFiles } from './helpers/e2e-suite.js';
import { APP, testApp } from './helpers/server.js';
import { SwitchProxy } from './helpers/switch-proxy.js';
import { track } from './helpers/track.js';
import { HISTORY_APP } from './history/suite.js';
import { missingOrExtra } from './history/stream-client.js';

const SCRIPTS = {
  '/pusher.js': join(REPO_ROOT, 'node_modules/pusher-js/dist/web/pusher.min.js'),
  '/echo.js': join(REPO_ROOT, 'node_modules/laravel-echo/dist/echo.iife.js'),
  '/wiremesh-livewire.js': CLIENT_SCRIPT,
};

/** The page: Echo on a pusher-js socket to `?port=`, resume on, channels from `?channels=`. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>resume</title>
<script src="/pusher.js"></script><script src="/echo.js"></script><script src="/wiremesh-livewire.js"></script>
<script>
  const q = new URLSearchParams(location.search);
  const pusher = new Pusher(${JSON.stringify(APP.key)}, {
    wsHost: '127.0.0.1', wsPort: Number(q.get('port')), forceTLS: false, enabledTransports: ['ws'], cluster: 'mt1', disableStats: true,
  });
  window.resume = WiremeshLivewire.enableResume(pusher);
  const echo = new Echo.default({ broadcaster: 'pusher', client: pusher });
  window.got = {}; window.gaps = {}; window.replayed = {};
  for (const name of q.get('channels').split(',')) {
    got[name] = []; gaps[name] = []; replayed[name] = 0;
    echo.channel(name)
      .listen('.n', (d) => got[name].push(d.n))
      .listen('.wiremesh:gap', (d) => gaps[name].push(d.reason))
      .listen('.wiremesh:resumed', (d) => (replayed[name] += d.replayed));
  }
  window.state = () => pusher.connection.state;
  window.subscribed = () => Object.keys(got).every((name) => pusher.channel(name) && pusher.channel(name).subscribed);
</script>`;

const EVENTS = 150;
const CHANNELS = 3;

interface PageState {
  got: Record<string, number[]>;
  gaps: Record<string, string[]>;
  replayed: Record<string, number>;
}

/** A node the pages reach: its HTTP/WebSocket port. */
interface Node {
  port: number;
}
/** Two nodes of one cluster with HISTORY_APP, closed with the suite. */
type Start = () => Promise<{ nodes: Node[]; close(): Promise<void> }>;

const STORES: Array<[string, Start]> = [
  ['memory store', () => startTestCluster(2, { apps: [testApp(HISTORY_APP)], logLevel: 'warn' })],
  ...(['redis', 'nats'] as const).map((driver): [string, Start] => [
    `${driver === 'redis' ? 'Redis Streams' : 'NATS JetStream'} store`,
    async () => {
      const c = await processCluster(driver, {}, HISTORY_APP)(2, 'http://127.0.0.1:9/hook');
      return { nodes: c.ports.map((port) => ({ port })), close: () => c.close() };
    },
  ]),
];

for (const [store, start] of STORES)
  describe(
    `resume in Chromium (${store}): pusher-js + Echo + enableResume, sockets cut mid-stream`,
    { skip: CHROMIUM_MISSING, timeout: 180_000 },
    () => {
      const chromium = browserSuite();
      let nodes: Node[];
      let base: string;

      before(async () => {
        assert.ok(existsSync(CLIENT_SCRIPT), `${CLIENT_SCRIPT} is missing: run npm run build`);
        const cluster = track(chromium.scope, await start());
        nodes = cluster.nodes;
        const files: SiteFiles = { '/': { type: 'text/html', inline: PAGE } };
        for (const [path, file] of Object.entries(SCRIPTS)) files[path] = { type: 'text/javascript', file };
        base = track(chromium.scope, await startSite(files)).url;
      });

      async function openOn(node: Node, channels: string[]): Promise<{ rec: PageRecorder; proxy: SwitchProxy }> {
        const proxy = track(chromium.scope, await new SwitchProxy(node.port).listen());
        const rec = await chromium.page();
        await rec.page.goto(`${base}/?port=${proxy.port}&channels=${channels.join(',')}`);
        await rec.page.waitForFunction(() => (window as unknown as { subscribed(): boolean }).subscribed());
        return { rec, proxy };
      }

      const stateOf = (page: Page): Promise<PageState> =>
        page.evaluate(() => {
          const w = window as unknown as PageState;
          return { got: w.got, gaps: w.gaps, replayed: w.replayed };
        });

      const connected = (page: Page): Promise<boolean> =>
        page.evaluate(() => {
          const w = window as unknown as { state(): string; subscribed(): boolean };
          return w.state() === 'connected' && w.subscribed();
        });

      test('cut back to the same node and then to the other node: every number once, in order, replayed over the gap', async () => {
        const run = Date.now().toString(36);
        const channels = Array.from({ length: CHANNELS }, (_, k) => `hist-e2e-${run}-${k}`);
        const [nodeA, nodeB] = nodes as [Node, Node];
        const stay = await openOn(nodeA, channels); // cut, back to node A
        const move = await openOn(nodeA, channels); // cut, back to node B
        const still = await openOn(nodeB, channels); // never cut
        const sdks = [serverSdk(nodeA.port), serverSdk(nodeB.port)];
        for (let n = 1; n <= EVENTS; n++) {
          if (n === 40) {
            stay.proxy.drop();
            move.proxy.target = nodeB.port;
            move.proxy.drop();
          }
          if (n === 100) {
            // While these two are still cut or resuming, the stream goes on.
            stay.proxy.target = nodeB.port;
            stay.proxy.drop();
          }
          await Promise.all(channels.map((ch, k) => sdks[k % 2]!.trigger(ch, 'n', { n })));
          if (n % 10 === 0) await sleep(10);
        }
        for (const { rec } of [stay, move, still]) {
          await eventually(
            'the page reconnected and has every event',
            async () => {
              if (!(await connected(rec.page))) return false;
              const s = await stateOf(rec.page);
              return channels.every((ch) => (s.got[ch]?.length ?? 0) >= EVENTS);
            },
            30_000,
          );
        }
        await sleep(300); // a duplicate would arrive now
        for (const [name, { rec, proxy }] of Object.entries({ stay, move, still })) {
          const s = await stateOf(rec.page);
          for (const ch of channels) {
            assert.equal(missingOrExtra(s.got[ch]!, EVENTS), null, `${name} on ${ch}`);
            assert.deepEqual(s.gaps[ch], [], `${name} on ${ch}: no gap`);
          }
          assert.deepEqual(rec.errors, [], `${name}: no page error`);
          if (name !== 'still') {
            assert.ok(proxy.connections >= 2, `${name} reconnected (${proxy.connections} connections)`);
            assert.ok(
              channels.some((ch) => s.replayed[ch]! > 0),
              `${name}: missed events were replayed (${JSON.stringify(s.replayed)})`,
            );
          }
        }
      });

      test('a resume too old for the history is reported as wiremesh:gap on the Echo channel', async () => {
        // maxEvents 500 in HISTORY_APP: 600 events while the page is away push its position out.
        const channel = `hist-e2e-old-${Date.now().toString(36)}`;
        const [nodeA] = nodes as [Node];
        const page = await openOn(nodeA, [channel]);
        const sdk = serverSdk(nodeA.port);
        await sdk.trigger(channel, 'n', { n: 1 });
        await eventually('the first event', async () => (await stateOf(page.rec.page)).got[channel]!.length === 1);
        page.proxy.target = 1; // nowhere: the page stays away while the history moves on
        page.proxy.drop();
        await eventually('the page noticed it is cut', async () => !(await connected(page.rec.page)), 15_000);
        for (let n = 2; n <= 601; n += 50) {
          await Promise.all(Array.from({ length: 50 }, (_, i) => sdk.trigger(channel, 'n', { n: n + i })));
        }
        page.proxy.target = nodeA.port;
        await eventually(
          'a gap reported as too old',
          async () => (await stateOf(page.rec.page)).gaps[channel]!.includes('too_old'),
          30_000,
        );
      });
    },
  );
