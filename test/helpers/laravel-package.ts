/**
 * wiremesh/laravel (laravel/) installed into a copy of the real-Laravel fixture as Composer would
 * install it from a path repository: the package under vendor/wiremesh/laravel, a
 * vendor/autoload.php with its PSR-4 map, and vendor/composer/installed.json from which Laravel's
 * package discovery reads `extra.laravel.providers`. The app starts from Laravel 10's own
 * config/broadcasting.php, as a fresh app does. Composer itself cannot reach Packagist here.
 *
 * The npm side, for `php artisan wiremesh:start`: this repository's built server as
 * node_modules/wiremesh (bin, dist/src, its runtime dependencies) with node_modules/.bin/wiremesh,
 * and this machine's node binary in the copy's bin/ (the root has no Node.js).
 */
import { copyFileSync, cpSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLIENT_SCRIPT, REPO_ROOT } from './e2e-app.js';
import type { LaravelCopy } from './laravel.js';

export const PACKAGE_DIR = join(REPO_ROOT, 'laravel');

/** Installs the package (and, with `npm`, the server) into the copy. */
export function installPackage(copy: LaravelCopy, options: { npm?: boolean } = {}): void {
  const app = copy.dir;
  const vendor = join(app, 'vendor');
  cpSync(PACKAGE_DIR, join(vendor, 'wiremesh', 'laravel'), { recursive: true });
  const composer = JSON.parse(readFileSync(join(PACKAGE_DIR, 'composer.json'), 'utf8')) as Record<string, unknown>;
  mkdirSync(join(vendor, 'composer'), { recursive: true });
  writeFileSync(
    join(vendor, 'composer', 'installed.json'),
    JSON.stringify({ packages: [{ ...composer, version: 'dev-main', 'install-path': '../wiremesh/laravel' }] }),
  );
  writeFileSync(
    join(vendor, 'autoload.php'),
    `<?php
// Stands in for Composer's autoloader: Debian's Laravel (the app's loader) and wiremesh/laravel's PSR-4 map.
require_once __DIR__.'/../bootstrap/autoload.php';
spl_autoload_register(static function (string $class): void {
    foreach (['Wiremesh\\\\Laravel\\\\Tests\\\\' => __DIR__.'/wiremesh/laravel/tests/', 'Wiremesh\\\\Laravel\\\\' => __DIR__.'/wiremesh/laravel/src/'] as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir.str_replace('\\\\', '/', substr($class, strlen($prefix))).'.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});
`,
  );
  // The app loads vendor/autoload.php as a Composer app's bootstrap does.
  writeFileSync(
    join(app, 'bootstrap', 'autoload.php'),
    readFileSync(join(app, 'bootstrap', 'autoload.php'), 'utf8') +
      "\nrequire_once __DIR__.'/../vendor/autoload.php';\n",
  );
  copyFileSync(
    join(REPO_ROOT, 'test', 'fixtures', 'laravel-broadcasting.php'),
    join(app, 'config', 'broadcasting.php'),
  );
  // The fixture also carries docs/fragments.md's hand-written render route (the way without the
  // package) on the path the package registers: an app that installs the package drops it.
  const routes = join(app, 'routes', 'web.php');
  const manual = "Route::post('/wiremesh/fragments', FragmentController::class)->withoutMiddleware('web');";
  const web = readFileSync(routes, 'utf8');
  if (!web.includes(manual)) throw new Error(`${routes} no longer has the manual fragment route: update this helper`);
  writeFileSync(routes, web.replace(manual, ''));
  if (options.npm) installServer(app);
}

/** The repository's built server as the app's node_modules/wiremesh, and node in the copy's bin/. */
function installServer(app: string): void {
  const modules = join(app, 'node_modules');
  const pkg = join(modules, 'wiremesh');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(REPO_ROOT, 'bin'), join(pkg, 'bin'), { recursive: true });
  cpSync(join(REPO_ROOT, 'dist', 'src'), join(pkg, 'dist', 'src'), {
    recursive: true,
    filter: (src) => !/\.test\.|\.map$/.test(src),
  });
  const deps = Object.keys(
    (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> })
      .dependencies,
  );
  for (const dep of deps) cpSync(join(REPO_ROOT, 'node_modules', dep), join(modules, dep), { recursive: true });
  mkdirSync(join(modules, '.bin'), { recursive: true });
  symlinkSync('../wiremesh/bin/wiremesh.js', join(modules, '.bin', 'wiremesh'));
  const node = join(dirname(app), 'bin', 'node');
  mkdirSync(dirname(node), { recursive: true });
  try {
    linkSync(process.execPath, node);
  } catch {
    copyFileSync(process.execPath, node);
  }
}

/**
 * The browser side an app installs from npm (pusher-js, laravel-echo, wiremesh-livewire), as the
 * files @wiremeshScripts serves from node_modules.
 */
export function installBrowserPackages(copy: LaravelCopy): void {
  const files: Array<[string, string]> = [
    ['pusher-js/dist/web/pusher.min.js', join(REPO_ROOT, 'node_modules', 'pusher-js', 'dist', 'web', 'pusher.min.js')],
    ['laravel-echo/dist/echo.iife.js', join(REPO_ROOT, 'node_modules', 'laravel-echo', 'dist', 'echo.iife.js')],
    ['wiremesh-livewire/dist/wiremesh-livewire.js', CLIENT_SCRIPT],
  ];
  for (const [to, from] of files) {
    const target = join(copy.dir, 'node_modules', to);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(from, target);
  }
}

/** The PATH inside the root that finds the copied node (the copy's bin/ next to app/). */
export function pathWithNode(copy: LaravelCopy, root: string): string {
  return `${dirname(copy.dir).slice(root.length)}/bin:/usr/bin:/bin`;
}

/** The .env of the copy as name → value (quotes removed). */
export function readEnv(copy: LaravelCopy): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(copy.dir, '.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}
