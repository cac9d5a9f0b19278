/**
 * wiremesh/laravel (laravel/) on real Laravel: Debian's Laravel 10.48 on PHP 8.4 in the .ci/laravel
 * root, the package installed into a copy of the fixture app as Composer would install it
 * (test/helpers/laravel-package.ts).
 * - its PHPUnit suite (laravel/tests): wiremesh:install and its idempotency, the configuration
 *   wiremesh:start builds, webhooks as Laravel events, 401 on a bad signature, fragments through
 *   the package's route and Blade component, the Livewire scripts;
 * - end to end, as a user: `php artisan wiremesh:install`, `php artisan wiremesh:start` (this
 *   repository's built server as the app's node_modules/wiremesh), then a broadcast from PHP by
 *   Laravel's broadcaster reaches a pusher-js client, and wiremesh's webhooks reach Laravel;
 * - in Chromium, with the package's @wiremeshScripts: Livewire over the socket and Echo; and a
 *   presence list as the package's shared fragment (the app's Wiremesh::fragment() and
 *   <x-wiremesh-fragment>) on two nodes of one cluster, each started by `php artisan
 *   wiremesh:start`: two logged-in users see each other, the package's render route is hit once
 *   per node per change, never for a new viewer.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { connected, PusherJS, until } from './helpers/clients.js';
import { CLIENT_SCRIPT } from './helpers/e2e-app.js';
import {
  CHROMIUM_MISSING,
  closeBrowser,
  eventually,
  gotoLivewire,
  launchChromium,
  openPage,
  waitForText,
  type PageRecorder,
} from './helpers/e2e-browser.js';
import { copyLaravelApp, laravelRig, type LaravelCopy } from './helpers/laravel.js';
import {
  installBrowserPackages,
  installPackage,
  PACKAGE_DIR,
  pathWithNode,
  readEnv,
} from './helpers/laravel-package.js';
import { freePort } from './helpers/server.js';

const rig = laravelRig();
const ROUTER = '/usr/share/php/Illuminate/Foundation/resources/server.php';

interface Running {
  out(): string;
  exited: Promise<unknown>;
  child: ReturnType<typeof spawn>;
}

/**
 * A fresh copy of the fixture app with the package and the server installed, as a user's app is
 * after `composer require` and `npm install`; `stop()` ends what `spawn` started and removes it.
 */
async function userApp(): Promise<{
  copy: LaravelCopy;
  appPort: number;
  wsPort: number;
  spawn(command: string[], sub?: string): Running;
  /**
   * `php artisan wiremesh:start` with node on the PATH (and `env`, as a process manager sets it),
   * waited for until it listens.
   */
  startWiremesh(env?: string[], args?: string[]): Promise<Running>;
  /**
   * Laravel's PHP server (for wiremesh's health checks, webhooks and the pages), waited for until
   * the package's health route answers: as in a deployment, Laravel first, then wiremesh (whose
   * first health check would otherwise find no upstream and send updates over HTTP until the next).
   */
  serve(): Promise<Running>;
  /** `broadcast(new OrderShipped($id))` by Laravel's broadcaster, in a PHP process of its own. */
  broadcast(id: number): Promise<string>;
  stop(): void;
}> {
  const root = rig.root!;
  const appPort = await freePort();
  const wsPort = await freePort();
  // The port is the one setting chosen here (6001 may be taken on this machine): install keeps it.
  const copy = copyLaravelApp(root, { APP_URL: `http://127.0.0.1:${appPort}`, PUSHER_PORT: String(wsPort) });
  const children: ReturnType<typeof spawn>[] = [];
  const kill = (): void => {
    for (const child of children) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', kill);
  const spawnIn = (command: string[], sub?: string): Running => {
    const [cmd, args] = copy.argv(command, sub);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { out: () => out, exited: once(child, 'exit'), child };
  };
  installPackage(copy, { npm: true });
  return {
    copy,
    appPort,
    wsPort,
    spawn: spawnIn,
    async startWiremesh(env = [], args = []) {
      const server = spawnIn([
        'env',
        `PATH=${pathWithNode(copy, root)}`,
        ...env,
        'php',
        'artisan',
        'wiremesh:start',
        ...args,
      ]);
      await until(() => /wiremesh listening/.test(server.out()), `wiremesh listening\n${server.out()}`, 30_000);
      return server;
    },
    async serve() {
      const php = spawnIn(['PHP_CLI_SERVER_WORKERS=4', 'php', '-S', `127.0.0.1:${appPort}`, ROUTER], 'public');
      let up = false;
      const check = (): void => {
        fetch(`http://127.0.0.1:${appPort}/wiremesh/up`).then(
          (res) => void res.arrayBuffer().then(() => (up = res.ok)),
          () => undefined,
        );
      };
      const timer = setInterval(check, 100);
      try {
        await until(() => up, `Laravel answering /wiremesh/up\n${php.out()}`, 30_000);
      } finally {
        clearInterval(timer);
      }
      return php;
    },
    broadcast: (id) =>
      copy.run([
        'php',
        '-r',
        `require 'bootstrap/autoload.php'; $app = require 'bootstrap/app.php';
         $app->make(Illuminate\\Contracts\\Console\\Kernel::class)->bootstrap();
         broadcast(new App\\Events\\OrderShipped(${id}));`,
      ]),
    stop() {
      kill();
      process.off('exit', kill);
      copy.remove();
    },
  };
}

test('the package pins the npm version of this repository', () => {
  const npm = (JSON.parse(readFileSync(join(PACKAGE_DIR, '..', 'package.json'), 'utf8')) as { version: string })
    .version;
  const composer = JSON.parse(readFileSync(join(PACKAGE_DIR, 'composer.json'), 'utf8')) as {
    extra: { wiremesh: { 'npm-version': string } };
  };
  assert.equal(composer.extra.wiremesh['npm-version'], npm);
  assert.match(readFileSync(join(PACKAGE_DIR, 'config', 'wiremesh.php'), 'utf8'), new RegExp(`'version' => '${npm}'`));
});

describe('wiremesh/laravel on real Laravel', { skip: rig.skip, timeout: 180_000 }, () => {
  test("the package's PHPUnit suite passes on Debian Laravel 10 and PHPUnit 11", async (t) => {
    const copy = copyLaravelApp(rig.root!, { APP_URL: 'http://127.0.0.1:8000' });
    try {
      installPackage(copy);
      const out = await copy
        .run(['phpunit', '-c', 'vendor/wiremesh/laravel/phpunit.xml.dist', '--do-not-cache-result'])
        .catch((e: Error) => e.message);
      t.diagnostic(out.trim().split('\n').slice(-1)[0] ?? '');
      assert.match(out, /^OK \(\d+ tests?, \d+ assertions?\)$/m, out);
    } finally {
      copy.remove();
    }
  });

  test('install, start, and a broadcast from PHP reaches pusher-js; webhooks reach Laravel', async (t) => {
    const app = await userApp();
    const { copy, wsPort } = app;
    try {
      const heard = join(copy.dir, 'storage', 'logs', 'webhooks.log');
      // The app's listener, as an app would register it in a provider.
      appendFileSync(
        join(copy.dir, 'routes', 'channels.php'),
        `\nIlluminate\\Support\\Facades\\Event::listen(Wiremesh\\Laravel\\Events\\ChannelOccupied::class, fn ($e) =>
    file_put_contents(storage_path('logs/webhooks.log'), "occupied {$e->channel()}\\n", FILE_APPEND));\n`,
      );
      const t0 = performance.now();

      const installed = await copy.artisan('wiremesh:install');
      assert.match(installed, /wiremesh installed:/);
      assert.match(installed, /php artisan wiremesh:start/);
      assert.match(await copy.artisan('wiremesh:install'), /already installed: nothing changed/);
      await copy.artisan('migrate', '--force', '--seed');
      const env = readEnv(copy);
      assert.equal(env.BROADCAST_DRIVER, 'wiremesh');
      assert.equal(env.PUSHER_PORT, String(wsPort));

      const php = await app.serve();
      const server = await app.startWiremesh();
      assert.match(server.out(), /node_modules\/wiremesh\/bin\/wiremesh\.js start --config/);

      // A real pusher-js, as echo.js configures it from the VITE_PUSHER_* names install wrote.
      const client = new PusherJS(env.PUSHER_APP_KEY!, {
        wsHost: env.VITE_PUSHER_HOST!,
        wsPort,
        forceTLS: false,
        enabledTransports: ['ws'],
        disableStats: true,
        cluster: 'mt1',
      });
      try {
        await connected(client);
        const received: unknown[] = [];
        const channel = client.subscribe('orders');
        channel.bind('App\\Events\\OrderShipped', (data: unknown) => received.push(data));
        await until(() => channel.subscribed, 'subscribed to orders');
        await app.broadcast(7);
        await until(() => received.length > 0, 'the broadcast', 10_000);
        t.diagnostic(
          `from wiremesh:install to the first broadcast received: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
        assert.deepEqual(received, [{ id: 7 }]);

        // channel_occupied went to the package's webhook route and became a Laravel event.
        await until(
          () => existsSync(heard) && readFileSync(heard, 'utf8').includes('occupied orders'),
          `the webhook as a Laravel event\n${php.out()}`,
          10_000,
        );
      } finally {
        client.disconnect();
      }
      // wiremesh:doctor checks the same configuration, Laravel and the running server.
      const doctor = await copy
        .run([
          'env',
          `PATH=${pathWithNode(copy, rig.root!)}`,
          'php',
          'artisan',
          'wiremesh:doctor',
          `--server=http://127.0.0.1:${wsPort}`,
        ])
        .catch((e: Error) => e.message);
      t.diagnostic(doctor.trim().split('\n').slice(-1)[0] ?? '');
      assert.match(doctor, /^ok\s+config: valid; 1 app\(s\)/m, doctor);
      assert.match(doctor, /^ok\s+api \(server\): signed GET .* → 200/m, doctor);
      assert.match(doctor, /^ok\s+livewire: backend http:\/\/127\.0\.0\.1:\d+\/wiremesh\/up → 200/m, doctor);
      // The only problem allowed here: this copy has no native transport (no optional dependencies, Node 20).
      const problems = doctor.split('\n').filter((line) => line.startsWith('PROBLEM'));
      assert.ok(
        problems.every((line) => line.startsWith('PROBLEM transport:')),
        doctor,
      );
      // wiremesh replaced PHP (same process): SIGTERM reaches the server itself, which drains and exits 0.
      server.child.kill('SIGTERM');
      const [code] = (await server.exited) as [number | null];
      assert.equal(code, 0, server.out());
      assert.match(server.out(), /signal received/);
    } finally {
      app.stop();
    }
  });

  test(
    'Chromium: a page with @wiremeshScripts sends Livewire over the socket and Echo receives a broadcast',
    { skip: CHROMIUM_MISSING || (!existsSync(CLIENT_SCRIPT) && `${CLIENT_SCRIPT} is missing: run npm run build`) },
    async (t) => {
      const app = await userApp();
      const { copy } = app;
      let browser: Browser | undefined;
      try {
        installBrowserPackages(copy);
        // The layout loads the client with the package's directive instead of the rig's own scripts.
        const view = join(copy.dir, 'resources', 'views', 'page.blade.php');
        const page0 = readFileSync(view, 'utf8');
        const head = page0.slice(page0.indexOf('    <script data-navigate-once>'), page0.indexOf('</head>'));
        writeFileSync(view, page0.replace(head, '    @wiremeshScripts\n'));
        const t0 = performance.now();
        await copy.artisan('wiremesh:install');
        await copy.artisan('migrate', '--force', '--seed');
        await app.serve();
        await app.startWiremesh();

        browser = await launchChromium();
        const rec = await openPage(browser);
        const { page } = rec;
        await gotoLivewire(page, `http://127.0.0.1:${app.appPort}`);
        await page.waitForFunction(
          () =>
            (window as unknown as { pusher?: { connection: { state: string } } }).pusher?.connection.state ===
            'connected',
        );
        await page.evaluate(() => {
          const w = window as unknown as {
            Echo: { channel(name: string): { listen(event: string, cb: (e: { id: number }) => void): void } };
            shipped: number[];
          };
          w.shipped = [];
          w.Echo.channel('orders').listen('OrderShipped', (e) => w.shipped.push(e.id));
        });
        await app.broadcast(9);
        await page.waitForFunction(() => (window as unknown as { shipped: number[] }).shipped.length > 0);
        t.diagnostic(
          `from wiremesh:install to the page receiving its first broadcast: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
        assert.deepEqual(await page.evaluate(() => (window as unknown as { shipped: number[] }).shipped), [9]);

        for (let i = 1; i <= 3; i++) {
          await page.click('#increment');
          await waitForText(page, '#count', String(i));
        }
        assert.deepEqual(rec.updateRequests, [], 'no Livewire update over HTTP: all through wiremesh');
        assert.deepEqual(rec.errors, [], 'no page error');
      } finally {
        await closeBrowser(browser);
        app.stop();
      }
    },
  );

  test(
    "Chromium: a presence list through the package's fragment route, rendered once per node per change",
    { skip: CHROMIUM_MISSING || (!existsSync(CLIENT_SCRIPT) && `${CLIENT_SCRIPT} is missing: run npm run build`) },
    async (t) => {
      const app = await userApp();
      const { copy } = app;
      const renders = join(copy.dir, 'storage', 'logs', 'renders.log');
      const meshSecret = randomBytes(32).toString('hex');
      let browser: Browser | undefined;
      try {
        installBrowserPackages(copy);
        // The app's own code, as a user writes it: the fragment registered in AppServiceProvider
        // (each render also noted, with who asked for it, so the test can count them), its view, a
        // second user, and the layout with @wiremeshScripts and the package's Blade component.
        // routes/channels.php already authorizes presence-lobby (`lobby`: id and name).
        const provider = join(copy.dir, 'app', 'Providers', 'AppServiceProvider.php');
        const anchor = 'ConvertEmptyStringsToNull::skipWhen($isUpdate);';
        const boot = readFileSync(provider, 'utf8');
        assert.ok(boot.includes(anchor), `${provider} changed: update this test`);
        writeFileSync(
          provider,
          boot.replace(
            anchor,
            `${anchor}

        \\Wiremesh\\Laravel\\Facades\\Wiremesh::fragment('online-users', function (string $channel, \\Illuminate\\Support\\Collection $members) {
            file_put_contents(storage_path('logs/renders.log'), json_encode([
                'path' => request()->path(),
                'node' => request()->header('X-Wiremesh-Node'),
                'members' => $members->pluck('name')->sort()->values(),
            ])."\\n", FILE_APPEND | LOCK_EX);

            return view('lobby.online', ['members' => $members->sortBy('name')]);
        }, channels: ['presence-lobby']);`,
          ),
        );
        mkdirSync(join(copy.dir, 'resources', 'views', 'lobby'), { recursive: true });
        writeFileSync(
          join(copy.dir, 'resources', 'views', 'lobby', 'online.blade.php'),
          `<h2>{{ count($members) }} online</h2>
<ul>
@foreach ($members as $member)
    <li data-user="{{ $member['name'] }}">{{ $member['name'] }}</li>
@endforeach
</ul>
`,
        );
        const seeder = join(copy.dir, 'database', 'seeders', 'DatabaseSeeder.php');
        const ada = "User::query()->create(['name' => 'Ada', 'email' => 'ada@example.com', 'password' => 'secret']);";
        const seed = readFileSync(seeder, 'utf8');
        assert.ok(seed.includes(ada), `${seeder} changed: update this test`);
        writeFileSync(
          seeder,
          seed.replace(
            ada,
            `${ada}\n        User::query()->create(['name' => 'Grace', 'email' => 'grace@example.com', 'password' => 'secret']);`,
          ),
        );
        const view = join(copy.dir, 'resources', 'views', 'page.blade.php');
        const page0 = readFileSync(view, 'utf8');
        const head = page0.slice(page0.indexOf('    <script data-navigate-once>'), page0.indexOf('</head>'));
        writeFileSync(
          view,
          page0
            .replace(head, '    @wiremeshScripts\n')
            .replace(
              '    {!! $counter !!}',
              '    <x-wiremesh-fragment name="online-users" channel="presence-lobby" id="online" />\n    {!! $counter !!}',
            ),
        );

        const t0 = performance.now();
        await copy.artisan('wiremesh:install');
        await copy.artisan('migrate', '--force', '--seed');
        await app.serve();
        // Two nodes of one cluster (wiremesh's own mesh), both started by the package's command with
        // the settings a process manager gives each: node A on the app's port, node B on another.
        const [portB, meshA, meshB] = [await freePort(), await freePort(), await freePort()];
        const mesh = (port: number, peer: number): string[] => [
          'WIREMESH_CLUSTER_DRIVER=mesh',
          `WIREMESH_MESH_PORT=${port}`,
          `WIREMESH_MESH_PEERS=127.0.0.1:${peer}`,
          `WIREMESH_MESH_SECRET=${meshSecret}`,
        ];
        const nodeA = await app.startWiremesh(mesh(meshA, meshB));
        const nodeB = await app.startWiremesh(mesh(meshB, meshA), [`--port=${portB}`]);
        const out = (): string => `node A:\n${nodeA.out()}\nnode B:\n${nodeB.out()}`;

        /** What the package's render route rendered (the Blade component's first HTML excluded). */
        const routeRenders = (): Array<{ node: string; members: string[] }> =>
          (existsSync(renders) ? readFileSync(renders, 'utf8') : '')
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as { path: string; node: string; members: string[] })
            .filter((r) => r.path === 'wiremesh/fragments');
        /** Waits until no render has happened for a while (the coalescing window is over). */
        const quiet = async (): Promise<Array<{ node: string; members: string[] }>> => {
          let last = -1;
          for (let i = 0; i < 50; i++) {
            const now = routeRenders();
            if (now.length === last) return now;
            last = now.length;
            await new Promise((r) => setTimeout(r, 500));
          }
          throw new Error(`renders never stopped\n${out()}`);
        };

        browser = await launchChromium();
        const pages = new Map<string, PageRecorder>();
        /**
         * The page's socket on node B, as a load balancer would send that browser there: the
         * settings @wiremeshScripts prints (window.WIREMESH) get B's port as the page sets them.
         */
        const onNode = async (page: Page, node: 'A' | 'B'): Promise<void> => {
          if (node === 'A') return;
          await page.addInitScript((port: number) => {
            let settings: unknown;
            Object.defineProperty(window, 'WIREMESH', {
              configurable: true,
              get: () => settings,
              set: (v: Record<string, unknown>) => (settings = { ...v, port }),
            });
          }, portB);
        };
        const login = async (name: string, node: 'A' | 'B'): Promise<PageRecorder> => {
          const rec = await openPage(browser!);
          await onNode(rec.page, node);
          // The fixture's login form, posted with the browser's cookies; its redirect is not
          // followed there (a route sees only the first request of a redirect chain), the page
          // then loads on its node.
          const origin = `http://127.0.0.1:${app.appPort}`;
          await rec.page.goto(`${origin}/login`);
          const res = await rec.page.context().request.post(`${origin}/login`, {
            form: {
              _token: await rec.page.inputValue('input[name=_token]'),
              email: `${name.toLowerCase()}@example.com`,
              password: 'secret',
            },
            maxRedirects: 0,
          });
          assert.equal(res.headers().location, origin, `${name} logged in`);
          await gotoLivewire(rec.page, `${origin}/`);
          assert.equal(await rec.page.textContent('#user'), name);
          pages.set(name, rec);
          return rec;
        };
        const listOn = (rec: PageRecorder): Promise<string[]> =>
          rec.page.$$eval('#online li', (els) => els.map((e) => e.getAttribute('data-user') ?? ''));
        const everyPageShows = async (expected: string[]): Promise<void> => {
          for (const [name, rec] of pages) {
            let shown: string[] = [];
            await eventually(
              `${name}'s page lists ${expected.join(',')}`,
              async () => (shown = await listOn(rec)).join(',') === expected.join(','),
              20_000,
            ).catch((e: Error) => {
              const seen = [...pages].map(([n, r]) => `${n}: ${r.console.join(' | ')}`).join('\n');
              throw new Error(
                `${e.message}; it shows ${shown.join(',')}\nrenders ${JSON.stringify(routeRenders())}\n${seen}\n${out()}`,
              );
            });
          }
        };
        /**
         * `change` costs exactly one render by the package's route on each of `nodes` nodes (those
         * with viewers), for these members, whatever the number of viewers.
         */
        const oneRenderPerNode = async (
          what: string,
          expected: string[],
          nodes: number,
          change: () => Promise<unknown>,
        ): Promise<Record<string, number>> => {
          const before = (await quiet()).length;
          await change();
          await everyPageShows(expected);
          const after = (await quiet()).slice(before);
          const perNode: Record<string, number> = {};
          for (const r of after) {
            assert.ok(r.node, `${what}: the render was asked by a wiremesh node (X-Wiremesh-Node)`);
            perNode[r.node] = (perNode[r.node] ?? 0) + 1;
            assert.deepEqual(r.members, expected, `${what}: the render saw the channel's members`);
          }
          assert.deepEqual(
            Object.values(perNode),
            Array<number>(nodes).fill(1),
            `${what}: one render per node, not one per viewer: ${JSON.stringify(after)}`,
          );
          return perNode;
        };
        /** Another tab of `name`'s (same cookies) on `node`. */
        const tab = async (name: string, node: 'A' | 'B'): Promise<Page> => {
          const page = await pages.get(name)!.page.context().newPage();
          await onNode(page, node);
          await gotoLivewire(page, `http://127.0.0.1:${app.appPort}/`);
          return page;
        };

        await login('Ada', 'A');
        await everyPageShows(['Ada']);
        t.diagnostic(
          `from wiremesh:install to the presence list showing: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
        const first = await quiet();
        t.diagnostic(`renders for the first viewer: ${first.length} (${JSON.stringify(first)})`);
        assert.ok(first.length >= 1 && first.every((r) => r.members.join(',') === 'Ada'), JSON.stringify(first));

        // Grace on node B: both nodes render once (B its first HTML, A on the replicated member_added).
        const joined = await oneRenderPerNode('Grace joins on B', ['Ada', 'Grace'], 2, () => login('Grace', 'B'));
        t.diagnostic(`Grace joins on B: renders per node ${JSON.stringify(joined)}`);
        // Two more tabs of Grace's, one on each node: more viewers, the same members, no render at all.
        const before = (await quiet()).length;
        for (const node of ['A', 'B'] as const) {
          const page = await tab('Grace', node);
          await eventually(
            `Grace's new tab on ${node} lists Ada,Grace`,
            async () =>
              (await page.$$eval('#online li', (els) => els.map((e) => e.getAttribute('data-user')))).join(',') ===
              'Ada,Grace',
          );
        }
        assert.equal((await quiet()).length, before, 'a new viewer takes the HTML its node has: no render');
        // Ada leaves (A still has Grace's tab, B two of Grace's): one render per node again.
        const left = await oneRenderPerNode('Ada leaves A', ['Grace'], 2, async () => {
          const ada = pages.get('Ada')!;
          pages.delete('Ada');
          await ada.close();
        });
        t.diagnostic(`Ada leaves: renders per node ${JSON.stringify(left)}`);
        t.diagnostic(`renders by the route: ${JSON.stringify(routeRenders())}`);
        for (const rec of pages.values()) assert.deepEqual(rec.errors, [], 'no page error');
      } finally {
        await closeBrowser(browser);
        app.stop();
      }
    },
  );
});
