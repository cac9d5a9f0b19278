import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.js';
import type { EnvSource } from './env.js';
import { loadConfig } from './load.js';
import { appDefaults, DEFAULT_APP, defaults } from './schema.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'wiremesh-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: unknown): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return p;
}

async function loadFails(
  opts: { file?: string; env: NodeJS.ProcessEnv },
  errPath: string,
  message: string,
): Promise<void> {
  await assert.rejects(loadConfig(opts), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.message, message);
    assert.equal(err.path, errPath);
    return true;
  });
}

const fileApp = { id: 'file-id', key: 'file-key', secret: 'file-secret', clientEvents: true };

describe('loadConfig', () => {
  it('gives the defaults and the default app with no file and no environment', async () => {
    const config = await loadConfig({ env: {} });
    assert.equal(config.port, defaults().port);
    assert.deepEqual(config.apps, [{ ...DEFAULT_APP, ...appDefaults() }]);
  });

  it('reads the README example from a JSON file', async () => {
    const f = await file('example.json', {
      port: 6001,
      host: '127.0.0.1',
      apps: [
        {
          id: 'app-id',
          key: 'app-key',
          secret: 'app-secret',
          clientEvents: true,
          userAuthentication: true,
          webhooks: [
            { url: 'http://127.0.0.1:6130/webhook', events: ['channel_occupied', 'member_added', 'client_event'] },
          ],
        },
      ],
      cluster: { driver: 'redis', redis: { url: 'redis://127.0.0.1:6379' } },
    });
    const config = await loadConfig({ file: f, env: {} });
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.cluster.driver, 'redis');
    assert.equal(config.apps[0]!.webhooks[0]!.url, 'http://127.0.0.1:6130/webhook');
  });

  it('takes the file from WIREMESH_CONFIG, unless opts.file is given', async () => {
    const a = await file('a.json', { port: 7001 });
    const b = await file('b.json', { port: 7002 });
    assert.equal((await loadConfig({ env: { WIREMESH_CONFIG: a } })).port, 7001);
    assert.equal((await loadConfig({ file: b, env: { WIREMESH_CONFIG: a } })).port, 7002);
  });

  it('lets the environment win over the file, merging nested sections', async () => {
    const f = await file('cluster.json', {
      port: 7001,
      cluster: { driver: 'redis', redis: { url: 'redis://file:6379', prefix: 'fileprefix' } },
      apps: [fileApp],
    });
    const config = await loadConfig({ file: f, env: { PORT: '8080', WIREMESH_REDIS_URL: 'redis://env:6379' } });
    assert.equal(config.port, 8080);
    assert.deepEqual(config.cluster.redis, { url: 'redis://env:6379', prefix: 'fileprefix', sharded: false });
    assert.equal(config.cluster.driver, 'redis');
    assert.equal(config.apps[0]!.id, 'file-id');
  });

  it("puts a Laravel .env's app on the file's app: id, key and secret from the environment, livewire and the rest kept", async () => {
    const livewire = { backends: ['http://127.0.0.1:8000'], publicUrl: 'http://localhost:8000' };
    const f = await file('laravel.json', { apps: [{ ...fileApp, livewire, webhooks: [] }] });
    const notes: string[] = [];
    const sources: EnvSource[] = [];
    const config = await loadConfig({
      file: f,
      env: { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'k', PUSHER_APP_SECRET: 's', WIREMESH_APP_MAX_CONNECTIONS: '5' },
      notes,
      sources,
    });
    assert.equal(config.apps.length, 1);
    const app = config.apps[0]!;
    assert.deepEqual([app.id, app.key, app.secret, app.maxConnections], ['1', 'k', 's', 5]);
    assert.equal(app.clientEvents, true);
    assert.equal(app.livewire?.publicUrl, 'http://localhost:8000');
    assert.deepEqual(notes, [
      `apps[0] (id "file-id") of ${f} takes id, key, secret, maxConnections from the environment (PUSHER_APP_ID, ` +
        "PUSHER_APP_KEY, PUSHER_APP_SECRET, WIREMESH_APP_MAX_CONNECTIONS), which differ from the file's id, key, secret; " +
        "its other settings are the file's",
    ]);
    assert.ok(sources.some((x) => x.path === 'apps[0].key' && x.name === 'PUSHER_APP_KEY'));
  });

  it("with several apps in the file, the environment's app is the one with its id or key; none is an error naming both", async () => {
    const f = await file('apps.json', {
      apps: [fileApp, { id: 'two', key: 'two', secret: 'two', clientEvents: true }],
    });
    const sources: EnvSource[] = [];
    const config = await loadConfig({
      file: f,
      env: { PUSHER_APP_ID: 'x', PUSHER_APP_KEY: 'two', PUSHER_APP_SECRET: 's2' },
      sources,
    });
    assert.deepEqual(
      config.apps.map((a) => [a.id, a.key, a.secret, a.clientEvents]),
      [
        ['file-id', 'file-key', 'file-secret', true],
        ['x', 'two', 's2', true],
      ],
    );
    assert.ok(sources.some((x) => x.path === 'apps[1].secret' && x.name === 'PUSHER_APP_SECRET'));
    await loadFails(
      { file: f, env: { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'k', PUSHER_APP_SECRET: 's' } },
      'PUSHER_APP_ID',
      `Invalid environment: PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET define an app (id "1", key "k") that is none of ` +
        `the 2 apps of ${f} (ids "file-id", "two"): give that app the environment's id or key in the file, unset those ` +
        "variables, or set WIREMESH_APPS_JSON to replace the file's apps",
    );
    const fromJson = await loadConfig({ file: f, env: { WIREMESH_APPS_JSON: '[{"id":"j","key":"j","secret":"j"}]' } });
    assert.deepEqual(
      fromJson.apps.map((a) => a.id),
      ['j'],
    );
  });

  it('applies app settings alone to the default app', async () => {
    const config = await loadConfig({ env: { WIREMESH_APP_CLIENT_EVENTS: 'yes' } });
    assert.deepEqual(config.apps, [{ ...appDefaults(), ...DEFAULT_APP, clientEvents: true }]);
  });

  it('refuses app settings alone when the file defines the apps', async () => {
    const f = await file('one-app.json', { apps: [fileApp] });
    await loadFails(
      { file: f, env: { WIREMESH_APP_MAX_CONNECTIONS: '5' } },
      'WIREMESH_APP_MAX_CONNECTIONS',
      'Invalid environment: WIREMESH_APP_MAX_CONNECTIONS is set, but the config file defines the apps and the ' +
        'environment defines none: set WIREMESH_APP_ID, WIREMESH_APP_KEY and WIREMESH_APP_SECRET (or REVERB_APP_*, PUSHER_APP_*) ' +
        'to replace the apps of the file, or move the setting into the file',
    );
  });

  it('names the environment variable behind a bad value', async () => {
    await loadFails(
      { env: { PORT: '70000' } },
      'port',
      'Invalid config: port (70000) must be an integer from 0 to 65535 (set by environment variable PORT)',
    );
    await loadFails(
      { env: { WIREMESH_APP_ID: '1', WIREMESH_APP_KEY: 'k' } },
      'apps[0].secret',
      'Invalid config: apps[0].secret must be a non-empty string (set environment variable WIREMESH_APP_SECRET or REVERB_APP_SECRET or PUSHER_APP_SECRET or SOKETI_DEFAULT_APP_SECRET)',
    );
    await loadFails(
      { env: { WIREMESH_APPS_JSON: '[{"id":"1","key":"k","secret":"s","clientEvent":true}]' } },
      'apps[0].clientEvent',
      'Invalid config: apps[0].clientEvent is not a known setting (did you mean clientEvents?) (set by environment variable WIREMESH_APPS_JSON)',
    );
  });

  it('passes a problem in the file through as it is', async () => {
    const f = await file('bad-value.json', { cluster: { heartbeatMs: 1000, nodeTimeoutMs: 1500 } });
    await loadFails(
      { file: f, env: { WIREMESH_HOST: '0.0.0.0' } },
      'cluster.nodeTimeoutMs',
      'Invalid config: cluster.nodeTimeoutMs (1500) must be at least twice cluster.heartbeatMs (1000)',
    );
    // The environment cannot hide a file value of the wrong type.
    const g = await file('bad-section.json', { cluster: 'redis' });
    await loadFails(
      { file: g, env: { WIREMESH_CLUSTER_DRIVER: 'redis' } },
      'cluster',
      'Invalid config: cluster ("redis") must be an object',
    );
  });

  it('gives the file and the line and column of a JSON syntax error', async () => {
    const f = await file('syntax.json', '{\n  "port": 6001\n  "host": "x"\n}\n');
    await loadFails(
      { file: f, env: {} },
      f,
      `Invalid config file ${f}: Expected ',' or '}' after property value in JSON at line 3, column 3`,
    );
    const empty = await file('empty.json', '');
    await loadFails(
      { file: empty, env: {} },
      empty,
      `Invalid config file ${empty}: Unexpected end of JSON input at line 1, column 1`,
    );
  });

  it('reads a file that starts with a byte order mark', async () => {
    const f = await file('bom.json', '\uFEFF{"port": 6002}');
    assert.equal((await loadConfig({ file: f, env: {} })).port, 6002);
  });

  it('refuses a missing file and a file that is not an object', async () => {
    const missing = path.join(dir, 'nope.json');
    await loadFails({ file: missing, env: {} }, missing, `Cannot read config file ${missing}: no such file`);
    const list = await file('list.json', [{ port: 1 }]);
    await loadFails(
      { file: list, env: {} },
      list,
      `Invalid config file ${list}: the top level must be an object of settings`,
    );
  });

  it('needs the optional yaml package for a YAML file', async (t) => {
    const f = await file('config.yaml', 'port: 6001\n');
    let yamlInstalled = true;
    try {
      createRequire(import.meta.url).resolve('yaml');
    } catch {
      yamlInstalled = false;
    }
    if (yamlInstalled) {
      assert.equal((await loadConfig({ file: f, env: {} })).port, 6001);
      t.diagnostic('yaml is installed: read the file');
      return;
    }
    await loadFails(
      { file: f, env: {} },
      f,
      `Cannot read config file ${f}: YAML needs the optional "yaml" package (npm install yaml); or use a JSON config file`,
    );
  });
});
