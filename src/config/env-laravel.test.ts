import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EnvSource } from './env.js';
import { ConfigError } from './errors.js';
import { loadConfig } from './load.js';

const KEY = `base64:${Buffer.alloc(32, 7).toString('base64')}`;
const OLD = `base64:${Buffer.alloc(32, 9).toString('base64')}`;
const FILE_KEY = `base64:${Buffer.alloc(16, 1).toString('base64')}`;
const tunnel = { backends: ['http://127.0.0.1:8000'], publicUrl: 'https://app.example.com' };
const app = (id: string, livewire?: Record<string, unknown>): Record<string, unknown> => ({
  id,
  key: `${id}-key`,
  secret: `${id}-secret`,
  ...(livewire ? { livewire } : {}),
});

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'wiremesh-laravel-env-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(apps: unknown[], env: NodeJS.ProcessEnv, sources: EnvSource[] = []) {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify({ apps }));
  return loadConfig({ file, env, sources });
}

async function fails(apps: unknown[], env: NodeJS.ProcessEnv, message: RegExp): Promise<void> {
  await assert.rejects(load(apps, env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, message);
    assert.ok(!err.message.includes(KEY.slice(7, 20)), 'the key is never shown');
    return true;
  });
}

describe('the Laravel app key from the environment', () => {
  it("Laravel's APP_KEY and APP_PREVIOUS_KEYS go to the one app with a livewire section", async () => {
    const sources: EnvSource[] = [];
    const config = await load([app('a'), app('b', tunnel)], { APP_KEY: KEY, APP_PREVIOUS_KEYS: `${OLD}, ` }, sources);
    assert.equal(config.apps[1]!.livewire!.laravelKey, KEY);
    assert.deepEqual(config.apps[1]!.livewire!.laravelPreviousKeys, [OLD]);
    assert.equal(config.apps[0]!.livewire, undefined);
    assert.deepEqual(
      sources.filter((s) => s.path.includes('laravel')),
      [
        { path: 'apps[1].livewire.laravelKey', name: 'APP_KEY' },
        { path: 'apps[1].livewire.laravelPreviousKeys', name: 'APP_PREVIOUS_KEYS' },
      ],
    );
  });

  it("the file's key wins over APP_KEY; WIREMESH_LARAVEL_KEY wins over the file", async () => {
    const apps = [app('a', { ...tunnel, laravelKey: FILE_KEY })];
    assert.equal((await load(apps, { APP_KEY: KEY })).apps[0]!.livewire!.laravelKey, FILE_KEY);
    assert.equal((await load(apps, { APP_KEY: OLD, WIREMESH_LARAVEL_KEY: KEY })).apps[0]!.livewire!.laravelKey, KEY);
    assert.equal((await load([app('a', tunnel)], {})).apps[0]!.livewire!.laravelKey, undefined);
  });

  it('with several livewire apps: APP_KEY is left alone, WIREMESH_LARAVEL_KEY refused', async () => {
    const apps = [app('a', tunnel), app('b', tunnel)];
    const config = await load(apps, { APP_KEY: KEY });
    assert.deepEqual(
      config.apps.map((a) => a.livewire!.laravelKey),
      [undefined, undefined],
    );
    await fails(
      apps,
      { WIREMESH_LARAVEL_KEY: KEY },
      /^Invalid environment: WIREMESH_LARAVEL_KEY is set, but 2 apps have a livewire section: set livewire\.laravelKey/,
    );
  });

  it('refuses a key that is not a Laravel key, naming the variable and never the key', async () => {
    await fails(
      [app('a', tunnel)],
      { APP_KEY: KEY.slice(0, -8) },
      /^Invalid config: apps\[0\]\.livewire\.laravelKey must be the Laravel app's key as in its \.env \(APP_KEY\): "base64:" and 32 bytes in base64 \(php artisan key:generate --show\), or a raw key of 16 or 32 bytes; this one is "base64:" and 27 bytes \(set by environment variable APP_KEY\)$/,
    );
    await fails([app('a', tunnel)], { APP_KEY: 'base64:abc' }, /this one is "base64:" followed by no valid base64/);
    await fails(
      [app('a', tunnel)],
      { APP_KEY: KEY, APP_PREVIOUS_KEYS: `${OLD},base64:${Buffer.alloc(24).toString('base64')}` },
      /^Invalid config: apps\[0\]\.livewire\.laravelPreviousKeys\[1\] must be .*; this one is "base64:" and 24 bytes \(set by environment variable APP_PREVIOUS_KEYS\)$/,
    );
    await fails(
      [app('a', { ...tunnel, laravelKey: 'too short' })],
      {},
      /laravelKey must be .*; this one is a raw key of 9 bytes$/,
    );
    await fails(
      [app('a', { ...tunnel, laravelPreviousKeys: [OLD] })],
      {},
      /^Invalid config: apps\[0\]\.livewire\.laravelPreviousKeys needs apps\[0\]\.livewire\.laravelKey \(the current APP_KEY\) too$/,
    );
  });
});
