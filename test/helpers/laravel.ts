/**
 * A real Laravel app for end-to-end tests: test/fixtures/laravel-app, run by PHP 8.4's built-in
 * server (4 workers, Laravel's own router script, as `php artisan serve` does) inside the Debian 13
 * root that .ci/laravel builds (Debian's Laravel 10.48, no Composer). The root shares the host's
 * network, so the app answers on a loopback port of the host.
 *
 * Each app gets its own copy of the fixture inside the root (its .env, storage/, sqlite database,
 * and the browser scripts in public/assets/), removed on close.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CLIENT_SCRIPT, REPO_ROOT } from './e2e-app.js';
import { freePort } from './server.js';

export const LARAVEL_APP_DIR = join(REPO_ROOT, 'test', 'fixtures', 'laravel-app');
const RIG_SCRIPT = join(REPO_ROOT, '.ci', 'laravel');
/** Laravel's router script for PHP's built-in server (`php artisan serve` runs the same). */
const ROUTER = '/usr/share/php/Illuminate/Foundation/resources/server.php';

/** Browser scripts copied into the app's public/assets/ (the client only once built). */
const ASSETS: Record<string, string> = {
  'livewire.js': join(REPO_ROOT, 'node_modules', 'adonisjs-livewire', 'build', 'assets', 'livewire.js'),
  'pusher.min.js': join(REPO_ROOT, 'node_modules', 'pusher-js', 'dist', 'web', 'pusher.min.js'),
  'echo.iife.js': join(REPO_ROOT, 'node_modules', 'laravel-echo', 'dist', 'echo.iife.js'),
  'wiremesh-livewire.js': CLIENT_SCRIPT,
};

export type LaravelRig = { root: string; skip: false } | { root?: undefined; skip: string };

/**
 * The rig's root, built by .ci/laravel (instant when cached, minutes the first time), or why the
 * tests must skip: not root, or the build failed (no network to the Debian mirror, no debootstrap).
 */
export function laravelRig(): LaravelRig {
  if (process.getuid?.() !== 0) {
    return {
      skip: `the real-Laravel rig runs PHP in a chroot and needs root: run sudo ${RIG_SCRIPT}, then the test as root`,
    };
  }
  const build = spawnSync(RIG_SCRIPT, { encoding: 'utf8', timeout: 20 * 60_000 });
  const root = build.stdout?.trim().split('\n').pop() ?? '';
  if (build.status !== 0 || !existsSync(join(root, '.wiremesh-laravel'))) {
    const why = (build.stderr || String(build.error ?? '')).trim().split('\n').slice(-3).join(' | ');
    return { skip: `the real-Laravel rig could not be built (${why}): run ${RIG_SCRIPT} and see its log` };
  }
  return { root, skip: false };
}

/** A copy of the fixture app inside the rig's root, with its .env, storage/ and sqlite database. */
export interface LaravelCopy {
  /** The copy on the host (inside the rig's root). */
  dir: string;
  /** Runs a command in the root with the copy (or `sub`, a folder of it) as working directory; rejects with its output when it fails. */
  run(command: string[], sub?: string): Promise<string>;
  /** Runs `php artisan …` in the copy. */
  artisan(...args: string[]): Promise<string>;
  /** The argv that runs `command` in the root from `sub` (for long-running processes). */
  argv(command: string[], sub?: string): [string, string[]];
  remove(): void;
}

/** Copies the fixture into the rig with this .env (merged over a fresh APP_KEY, debug on, sqlite, file sessions). */
export function copyLaravelApp(root: string, env: Record<string, string>): LaravelCopy {
  const dir = mkdtempSync(join(root, 'tmp', 'wiremesh-laravel-'));
  const app = join(dir, 'app');
  const inRoot = `/tmp/${basename(dir)}/app`;
  cpSync(LARAVEL_APP_DIR, app, { recursive: true });
  for (const d of [
    'storage/framework/sessions',
    'storage/framework/views',
    'storage/framework/cache/data',
    'storage/logs',
    'bootstrap/cache',
    'public/assets',
  ])
    mkdirSync(join(app, d), { recursive: true });
  writeFileSync(join(app, 'database', 'database.sqlite'), '');
  for (const [name, file] of Object.entries(ASSETS))
    if (existsSync(file)) copyFileSync(file, join(app, 'public', 'assets', name));
  const all: Record<string, string> = {
    APP_KEY: `base64:${randomBytes(32).toString('base64')}`,
    APP_ENV: 'local',
    APP_DEBUG: 'true',
    LOG_LEVEL: 'warning',
    ...env,
  };
  writeFileSync(
    join(app, '.env'),
    Object.entries(all)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}\n`)
      .join(''),
  );

  const argv = (command: string[], sub = ''): [string, string[]] => [
    'chroot',
    [
      root,
      '/usr/bin/env',
      '-i',
      '-C',
      `${inRoot}${sub ? `/${sub}` : ''}`,
      'PATH=/usr/bin:/bin',
      'HOME=/tmp',
      ...command,
    ],
  ];
  const run = async (command: string[], sub?: string): Promise<string> => {
    const [cmd, args] = argv(command, sub);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`${command.join(' ')} exited ${code}:\n${out}`);
    return out;
  };
  return {
    dir: app,
    run,
    artisan: (...args) => run(['php', 'artisan', '--no-ansi', ...args]),
    argv,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface LaravelApp {
  /** Origin, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  port: number;
  /** The app's copy on the host (inside the rig's root). */
  dir: string;
  /** What the PHP server wrote (its request log and Laravel's log channel, stderr). */
  output(): string;
  /** Runs `php artisan …` in the app's copy; rejects with its output when it fails. */
  artisan(...args: string[]): Promise<string>;
  /** Runs a command in the root from the app's copy; rejects with its output when it fails. */
  run(command: string[]): Promise<string>;
  close(): Promise<void>;
}

export interface LaravelAppOptions {
  /** The port to serve on (wiremesh's config may need it first). Default: a free one. */
  port?: number;
  /** .env entries beyond the defaults (APP_KEY, APP_URL, debug on, sqlite, file sessions). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

/** Copies the fixture into the rig, migrates and seeds its sqlite database, serves it, and waits until `/up` answers. */
export async function startLaravel(root: string, options: LaravelAppOptions = {}): Promise<LaravelApp> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const copy = copyLaravelApp(root, { APP_URL: url, ...options.env });
  const { artisan, remove } = copy;
  let server: ChildProcess | undefined;
  try {
    await artisan('migrate', '--force', '--seed');
    const [cmd, argv] = copy.argv(['PHP_CLI_SERVER_WORKERS=4', 'php', '-S', `127.0.0.1:${port}`, ROUTER], 'public');
    // Its own process group: the server and its workers are stopped together.
    server = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  } catch (error) {
    remove();
    throw error;
  }
  const child = server;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  // If the test process dies without closing the app, do not leave PHP running.
  const killOnExit = (): void => signal('SIGKILL');
  process.once('exit', killOnExit);
  const close = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    remove();
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`the Laravel app's PHP server exited early (${child.exitCode}):\n${out}`);
    }
    try {
      const res = await fetch(`${url}/up`);
      if (res.ok) break;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the Laravel app did not answer ${url}/up in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, port, dir: copy.dir, output: () => out, artisan, run: (command) => copy.run(command), close };
}
