/**
 * The real CLI started with the variables a Laravel (Reverb or Pusher), Soketi or Fly.io
 * environment already has: the app answers signed HTTP API calls with those credentials, the
 * cluster driver they imply is used against a real Redis / NATS server, and the start-up log
 * names the variable behind each setting.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher';
import { startBroker, type Broker } from './helpers/brokers.js';
import { ensureDead, healthy, jsonLines, runCli, type CliProcess } from './helpers/api-process.js';
import { freePort } from './helpers/server.js';

const CREDS = { appId: 'env-app', key: 'env-key', secret: 'env-secret' };

let redis: Broker;
let nats: Broker;
const procs: CliProcess[] = [];

before(async () => {
  [redis, nats] = await Promise.all([startBroker('redis'), startBroker('nats')]);
});
after(async () => {
  await Promise.all(procs.map((p) => ensureDead(p)));
  await Promise.all([redis?.stop(), nats?.stop()]);
});

/** Starts the CLI with `env(port)`, checks the signed API round trip, stops it; returns its log lines. */
async function startWith(env: (port: number) => NodeJS.ProcessEnv): Promise<Array<Record<string, unknown>>> {
  const port = await freePort();
  const proc = runCli(['start'], env(port));
  procs.push(proc);
  await healthy(proc, port, 20_000);
  const sdk = new Pusher({ ...CREDS, host: '127.0.0.1', port: String(port), useTLS: false });
  const res = await sdk.get({ path: '/channels' });
  assert.equal(res.status, 200, proc.stderr());
  const wrong = new Pusher({
    ...CREDS,
    secret: 'not-the-secret',
    host: '127.0.0.1',
    port: String(port),
    useTLS: false,
  });
  await assert.rejects(wrong.get({ path: '/channels' }), (err: { status?: number }) => err.status === 401);
  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0, proc.stderr());
  return jsonLines(proc.stderr());
}

function line(lines: Array<Record<string, unknown>>, msg: string): Record<string, unknown> {
  const found = lines.find((l) => l.msg === msg);
  assert.ok(found, `no "${msg}" line in:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
  return found;
}

describe('environment names of Laravel, Soketi and Fly.io', { timeout: 120_000 }, () => {
  it('Reverb: REVERB_APP_*, REVERB_SERVER_HOST/PORT, REVERB_SCALING_ENABLED + REDIS_URL', async () => {
    const lines = await startWith((port) => ({
      REVERB_APP_ID: CREDS.appId,
      REVERB_APP_KEY: CREDS.key,
      REVERB_APP_SECRET: CREDS.secret,
      REVERB_SERVER_HOST: '127.0.0.1',
      REVERB_SERVER_PORT: String(port),
      REVERB_SCALING_ENABLED: 'true',
      REDIS_URL: redis.url,
    }));
    assert.deepEqual(line(lines, 'settings from the environment').from, {
      host: 'REVERB_SERVER_HOST',
      port: 'REVERB_SERVER_PORT',
      'apps[0].id': 'REVERB_APP_ID',
      'apps[0].key': 'REVERB_APP_KEY',
      'apps[0].secret': 'REVERB_APP_SECRET',
      'cluster.driver': 'REVERB_SCALING_ENABLED',
      'cluster.redis.url': 'REDIS_URL',
    });
    assert.equal(line(lines, 'wiremesh listening').cluster, 'redis');
  });

  it("Pusher: Laravel's PUSHER_APP_* and the platform's PORT", async () => {
    const lines = await startWith((port) => ({
      PUSHER_APP_ID: CREDS.appId,
      PUSHER_APP_KEY: CREDS.key,
      PUSHER_APP_SECRET: CREDS.secret,
      WIREMESH_HOST: '127.0.0.1',
      PORT: String(port),
    }));
    assert.deepEqual(line(lines, 'settings from the environment').from, {
      host: 'WIREMESH_HOST',
      port: 'PORT',
      'apps[0].id': 'PUSHER_APP_ID',
      'apps[0].key': 'PUSHER_APP_KEY',
      'apps[0].secret': 'PUSHER_APP_SECRET',
    });
    assert.equal(line(lines, 'wiremesh listening').cluster, 'memory');
  });

  it('Soketi: SOKETI_DEFAULT_APP_*, SOKETI_HOST/PORT, SOKETI_ADAPTER_DRIVER=nats + SOKETI_ADAPTER_NATS_SERVERS', async () => {
    const lines = await startWith((port) => ({
      SOKETI_DEFAULT_APP_ID: CREDS.appId,
      SOKETI_DEFAULT_APP_KEY: CREDS.key,
      SOKETI_DEFAULT_APP_SECRET: CREDS.secret,
      SOKETI_HOST: '127.0.0.1',
      SOKETI_PORT: String(port),
      SOKETI_ADAPTER_DRIVER: 'nats',
      SOKETI_ADAPTER_NATS_SERVERS: JSON.stringify([nats.url]),
    }));
    assert.deepEqual(line(lines, 'settings from the environment').from, {
      host: 'SOKETI_HOST',
      port: 'SOKETI_PORT',
      'apps[0].id': 'SOKETI_DEFAULT_APP_ID',
      'apps[0].key': 'SOKETI_DEFAULT_APP_KEY',
      'apps[0].secret': 'SOKETI_DEFAULT_APP_SECRET',
      'cluster.driver': 'SOKETI_ADAPTER_DRIVER',
      'cluster.nats.servers': 'SOKETI_ADAPTER_NATS_SERVERS',
    });
    assert.equal(line(lines, 'wiremesh listening').cluster, 'nats');
  });

  it('Soketi: SOKETI_ADAPTER_DRIVER=redis + SOKETI_DB_REDIS_HOST/PORT', async () => {
    const lines = await startWith((port) => ({
      SOKETI_DEFAULT_APP_ID: CREDS.appId,
      SOKETI_DEFAULT_APP_KEY: CREDS.key,
      SOKETI_DEFAULT_APP_SECRET: CREDS.secret,
      SOKETI_HOST: '127.0.0.1',
      SOKETI_PORT: String(port),
      SOKETI_ADAPTER_DRIVER: 'redis',
      SOKETI_DB_REDIS_HOST: '127.0.0.1',
      SOKETI_DB_REDIS_PORT: String(redis.port),
    }));
    const from = line(lines, 'settings from the environment').from as Record<string, string>;
    assert.equal(from['cluster.redis.url'], 'SOKETI_DB_REDIS_HOST+SOKETI_DB_REDIS_PORT');
    assert.equal(line(lines, 'wiremesh listening').cluster, 'redis');
  });

  it('warns when two names of one setting disagree, and uses the first', async () => {
    const lines = await startWith((port) => ({
      REVERB_APP_ID: CREDS.appId,
      REVERB_APP_KEY: CREDS.key,
      REVERB_APP_SECRET: CREDS.secret,
      PUSHER_APP_ID: CREDS.appId, // same value: no warning
      PUSHER_APP_KEY: 'an-old-key',
      WIREMESH_HOST: '127.0.0.1',
      WIREMESH_PORT: String(port),
    }));
    const warnings = lines.filter(
      (l) => l.msg === 'several environment variables set the same setting; the first one is used',
    );
    assert.deepEqual(
      warnings.map((w) => [w.setting, w.used, w.ignored]),
      [['apps[0].key', 'REVERB_APP_KEY', ['PUSHER_APP_KEY']]],
    );
  });

  it('Fly.io: FLY_APP_NAME joins the mesh over <app>.internal on ::, FLY_MACHINE_ID is the node id, FLY_REGION in every line', async () => {
    const meshPort = await freePort();
    const lines = await startWith((port) => ({
      ...{ PUSHER_APP_ID: CREDS.appId, PUSHER_APP_KEY: CREDS.key, PUSHER_APP_SECRET: CREDS.secret },
      FLY_APP_NAME: 'wiremesh-test',
      FLY_MACHINE_ID: '148e21ea7c5d89',
      FLY_REGION: 'ams',
      WIREMESH_MESH_SECRET: 'a-shared-secret-of-enough-length',
      WIREMESH_MESH_PORT: String(meshPort),
      WIREMESH_PORT: String(port),
    }));
    const from = line(lines, 'settings from the environment').from as Record<string, string>;
    assert.equal(from['cluster.driver'], 'FLY_APP_NAME');
    assert.equal(from['cluster.mesh.dns'], 'FLY_APP_NAME');
    assert.equal(from.nodeId, 'FLY_MACHINE_ID');
    assert.equal(from.region, 'FLY_REGION');
    const listening = line(lines, 'wiremesh listening');
    assert.equal(listening.cluster, 'mesh');
    assert.equal(listening.host, '::');
    assert.match(String(listening.nodeId), /^148e21ea7c5d89-/);
    assert.deepEqual(
      lines.filter((l) => l.region !== 'ams').map((l) => l.msg),
      [],
    );
  });

  it('Fly.io without a mesh secret: refuses to start and prints the fly command that sets one', async () => {
    const proc = runCli(['start'], { FLY_APP_NAME: 'wiremesh-test', WIREMESH_PORT: String(await freePort()) });
    procs.push(proc);
    assert.equal(await proc.exited, 1);
    assert.match(proc.stderr(), /fly secrets set WIREMESH_MESH_SECRET=\$\(openssl rand -hex 32\) --app wiremesh-test/);
  });
});
