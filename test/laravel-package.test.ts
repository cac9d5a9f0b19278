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
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connected, PusherJS, until } from './helpers/clients.js';
import { copyLaravelApp, laravelRig } from './helpers/laravel.js';
import { installPackage, pathWithNode, readEnv } from './helpers/laravel-package.js';
import { freePort } from './helpers/server.js';

const rig = laravelRig();

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
    try {
      installPackage(copy, { npm: true });
      const heard = join(copy.dir, 'storage', 'logs', 'webhooks.log');
      appendFileSync(
        join(copy.dir, 'routes', 'channels.php'),
        `\nIlluminate\\Support\\Facades\\Event::listen(Wiremesh\\Laravel\\Events\\ChannelOccupied::class, fn ($e) =>
    file_put_contents(storage_path('logs/webhooks.log'), "occupied {$e->channel()}\\n", FILE_APPEND));\n`,
      );
      const PATH = `PATH=${pathWithNode(copy, root)}`;
      const t0 = performance.now();

      const installed = await copy.artisan('wiremesh:install');
      assert.match(installed, /wiremesh installed:/);
      assert.match(installed, /php artisan wiremesh:start/);
      assert.match(await copy.artisan('wiremesh:install'), /already installed: nothing changed/);
      await copy.artisan('migrate', '--force', '--seed');
      const env = readEnv(copy);
      assert.equal(env.BROADCAST_DRIVER, 'wiremesh');
      assert.equal(env.PUSHER_PORT, String(wsPort));

      const spawnIn = (
        command: string[],
        sub?: string,
      ): { out: () => string; exited: Promise<unknown>; child: ReturnType<typeof spawn> } => {
        const [cmd, args] = copy.argv(command, sub);
        const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        children.push(child);
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        return { out: () => out, exited: once(child, 'exit'), child };
      };
      // Laravel, for wiremesh's health checks and webhooks.
      const php = spawnIn(
        [
          'PHP_CLI_SERVER_WORKERS=2',
          'php',
          '-S',
          `127.0.0.1:${appPort}`,
          '/usr/share/php/Illuminate/Foundation/resources/server.php',
        ],
        'public',
      );
      const server = spawnIn(['env', PATH, 'php', 'artisan', 'wiremesh:start']);
      await until(
        () => /"msg":"listening"|listening/.test(server.out()),
        `wiremesh listening\n${server.out()}`,
        30_000,
      );
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
        await copy.run([
          'php',
          '-r',
          `require 'bootstrap/autoload.php'; $app = require 'bootstrap/app.php';
           $app->make(Illuminate\\Contracts\\Console\\Kernel::class)->bootstrap();
           broadcast(new App\\Events\\OrderShipped(7));`,
        ]);
        await until(() => received.length > 0, 'the broadcast', 10_000);
        const seconds = (performance.now() - t0) / 1000;
        t.diagnostic(`from wiremesh:install to the first broadcast received: ${seconds.toFixed(1)} s`);
        assert.deepEqual(received, [{ id: 7 }]);

        // channel_occupied went to the package's webhook route and became a Laravel event, which
        // the app's listener (added below, as an app would in a provider) wrote down.
        await until(
          () => existsSync(heard) && readFileSync(heard, 'utf8').includes('occupied orders'),
          `the webhook as a Laravel event\n${php.out()}`,
          10_000,
        );
      } finally {
        client.disconnect();
      }
      // wiremesh replaced PHP (same process): SIGTERM reaches the server itself, which drains and exits 0.
      server.child.kill('SIGTERM');
      const [code] = (await server.exited) as [number | null];
      assert.equal(code, 0, server.out());
      assert.match(server.out(), /signal received/);
      const log = readFileSync(join(copy.dir, 'storage', 'framework', 'wiremesh', 'wiremesh.json'), 'utf8');
      assert.match(log, new RegExp(`"port": ${wsPort}`));
    } finally {
      kill();
      process.off('exit', kill);
      copy.remove();
    }
  });
});
