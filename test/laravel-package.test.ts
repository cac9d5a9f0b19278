/**
 * wiremesh/laravel (laravel/) on real Laravel: Debian's Laravel 10.48 on PHP 8.4 in the .ci/laravel
 * root, the package installed into a copy of the fixture app as Composer would install it
 * (test/helpers/laravel-package.ts).
 * - its PHPUnit suite (laravel/tests): wiremesh:install and its idempotency, the configuration
 *   wiremesh:start builds, webhooks as Laravel events, 401 on a bad signature, fragments through
 *   the package's route and Blade component, the Livewire scripts;
 * - end to end, as a user: `php artisan wiremesh:install`, `php artisan wiremesh:start` (this
 *   repository's built server as the app's node_modules/wiremesh), then a broadcast from PHP by
 *   Laravel's broadcaster reaches a pusher-js client, and wiremesh's webhooks reach Laravel.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { connected, PusherJS, until } from './helpers/clients.js';
import { CLIENT_SCRIPT } from './helpers/e2e-app.js';
import {
  CHROMIUM_MISSING,
  closeBrowser,
  gotoLivewire,
  launchChromium,
  openPage,
  waitForText,
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
  /** `php artisan wiremesh:start` with node on the PATH, waited for until it listens. */
  startWiremesh(): Promise<Running>;
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
    async startWiremesh() {
      const server = spawnIn(['env', `PATH=${pathWithNode(copy, root)}`, 'php', 'artisan', 'wiremesh:start']);
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
});
