import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvSource } from './env.js';
import { loadConfig } from './load.js';

const FLY = {
  PUSHER_APP_ID: 'chat',
  PUSHER_APP_KEY: 'chat-key',
  PUSHER_APP_SECRET: 'a-real-secret-of-the-chat-app',
  FLY_APP_NAME: 'chat',
  FLY_MACHINE_ID: '3d8d9e1c',
  FLY_REGION: 'fra',
  WIREMESH_MESH_SECRET: 's3cret-s3cret-s3cret-s3cret-s3cret',
};

function file(config: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'wiremesh-platform-')), 'config.json');
  writeFileSync(path, JSON.stringify(config));
  return path;
}

describe('Fly.io zero-config', () => {
  it('FLY_APP_NAME → mesh over <app>.internal on ::, FLY_MACHINE_ID → node id, host ::', async () => {
    const sources: EnvSource[] = [];
    const config = await loadConfig({ env: FLY, sources });
    assert.equal(config.cluster.driver, 'mesh');
    assert.equal(config.cluster.mesh.dns, 'chat.internal');
    assert.equal(config.cluster.mesh.host, '::');
    assert.equal(config.cluster.mesh.secret, FLY.WIREMESH_MESH_SECRET);
    assert.equal(config.nodeId, '3d8d9e1c');
    assert.equal(config.host, '::');
    assert.deepEqual(
      sources.filter((s) => !s.path.startsWith('apps')).map((s) => `${s.path}←${s.name}`),
      [
        'region←FLY_REGION',
        'cluster.mesh.secret←WIREMESH_MESH_SECRET',
        'cluster.driver←FLY_APP_NAME',
        'cluster.mesh.dns←FLY_APP_NAME',
        'cluster.mesh.host←FLY_APP_NAME',
        'host←FLY_APP_NAME',
        'nodeId←FLY_MACHINE_ID',
      ],
    );
    assert.equal(config.region, 'fra');
  });

  it('a driver chosen in the file or by WIREMESH_CLUSTER_DRIVER wins; explicit settings are kept', async () => {
    const fromFile = await loadConfig({ file: file({ cluster: { driver: 'memory' } }), env: FLY });
    assert.equal(fromFile.cluster.driver, 'memory');
    assert.equal(fromFile.nodeId, '3d8d9e1c');
    const redis = await loadConfig({
      env: { ...FLY, WIREMESH_CLUSTER_DRIVER: 'redis', WIREMESH_HOST: '0.0.0.0', WIREMESH_NODE_ID: 'mine' },
    });
    assert.equal(redis.cluster.driver, 'redis');
    assert.equal(redis.host, '0.0.0.0');
    assert.equal(redis.nodeId, 'mine');
    const peers = await loadConfig({ env: { ...FLY, WIREMESH_MESH_PEERS: '[fdaa::1]:6100' } });
    assert.equal(peers.cluster.mesh.dns, undefined);
    assert.deepEqual(peers.cluster.mesh.peers, ['[fdaa::1]:6100']);
  });

  it('without a mesh secret, the error is the fly command to set one', async () => {
    const { WIREMESH_MESH_SECRET: _, ...env } = FLY;
    await assert.rejects(
      loadConfig({ env }),
      /fly secrets set WIREMESH_MESH_SECRET=\$\(openssl rand -hex 32\) --app chat/,
    );
  });
});

describe('Reverb and Soketi cluster settings', () => {
  it("REVERB_SCALING_ENABLED builds the Redis URL from Laravel's REDIS_HOST/PORT/PASSWORD (null = none)", async () => {
    const on = { REVERB_SCALING_ENABLED: 'true', REDIS_HOST: 'cache', REDIS_PORT: '6380' };
    assert.equal(
      (await loadConfig({ env: { ...on, REDIS_PASSWORD: 'null' } })).cluster.redis.url,
      'redis://cache:6380',
    );
    assert.equal(
      (await loadConfig({ env: { ...on, REDIS_PASSWORD: 'p@ss' } })).cluster.redis.url,
      'redis://:p%40ss@cache:6380',
    );
    assert.equal((await loadConfig({ env: { ...on, REDIS_URL: 'rediss://r:1' } })).cluster.redis.url, 'rediss://r:1');
    assert.equal(
      (await loadConfig({ env: { REVERB_SCALING_ENABLED: 'false', REDIS_URL: 'redis://r:1' } })).cluster.driver,
      'memory',
    );
    await assert.rejects(
      loadConfig({ env: { REVERB_SCALING_ENABLED: 'maybe' } }),
      /REVERB_SCALING_ENABLED \("maybe"\) must be one of/,
    );
  });

  it('SOKETI_ADAPTER_DRIVER maps local/redis/nats and refuses cluster with what to use instead', async () => {
    assert.equal((await loadConfig({ env: { SOKETI_ADAPTER_DRIVER: 'local' } })).cluster.driver, 'memory');
    const redis = await loadConfig({
      env: { SOKETI_ADAPTER_DRIVER: 'redis', SOKETI_DB_REDIS_HOST: 'r', SOKETI_DB_REDIS_DB: '2' },
    });
    assert.equal(redis.cluster.redis.url, 'redis://r:6379/2');
    const nats = await loadConfig({
      env: { SOKETI_ADAPTER_DRIVER: 'nats', SOKETI_ADAPTER_NATS_SERVERS: '["nats://a:4222","nats://b:4222"]' },
    });
    assert.deepEqual(nats.cluster.nats.servers, ['nats://a:4222', 'nats://b:4222']);
    await assert.rejects(
      loadConfig({ env: { SOKETI_ADAPTER_DRIVER: 'cluster' } }),
      /WIREMESH_CLUSTER_DRIVER=mesh with WIREMESH_MESH_PEERS or WIREMESH_MESH_DNS/,
    );
  });
});
