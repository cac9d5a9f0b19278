/** createBackend: picks the driver, loads client packages lazily, names a missing package precisely. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterConfig } from '../../config/schema.js';
import { silentLogger } from '../../log/logger.js';
import { createBackend, DriverNotInstalledError, importDriver, isMissingPackage } from './load.js';
import { MemoryBackend, MemoryBus } from './memory.js';

const cluster = (driver: ClusterConfig['driver']): ClusterConfig => ({
  driver,
  redis: { url: 'redis://127.0.0.1:1', prefix: 'wm', sharded: false },
  nats: { servers: ['nats://127.0.0.1:1'], prefix: 'wm', historyStorage: 'file', historyReplicas: 1 },
  mesh: { port: 1, host: '127.0.0.1', peers: ['127.0.0.1:2'], secret: 's' },
  heartbeatMs: 1000,
  nodeTimeoutMs: 5000,
});

/** Node's own error for an `import()` of a package that is not installed. */
function notFound(pkg: string): Error {
  return Object.assign(new Error(`Cannot find package '${pkg}' imported from /app/dist/src/cluster/backends/x.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

describe('createBackend', () => {
  it('builds each driver without connecting', async () => {
    const memory = await createBackend(cluster('memory'), silentLogger, new MemoryBus());
    assert.ok(memory instanceof MemoryBackend);
    assert.equal((await createBackend(cluster('redis'), silentLogger)).name, 'redis');
    assert.equal((await createBackend(cluster('nats'), silentLogger)).name, 'nats');
    assert.equal((await createBackend(cluster('mesh'), silentLogger)).name, 'mesh');
  });

  it('names the missing package and how to install it', async () => {
    await assert.rejects(
      importDriver('redis', () => Promise.reject(notFound('redis'))),
      {
        name: 'DriverNotInstalledError',
        code: 'WIREMESH_DRIVER_NOT_INSTALLED',
        message: "cluster.driver is redis but the 'redis' package is not installed: npm install redis",
      },
    );
    await assert.rejects(
      importDriver('nats', () => Promise.reject(notFound('@nats-io/transport-node'))),
      {
        message:
          "cluster.driver is nats but the '@nats-io/transport-node' package is not installed: npm install @nats-io/transport-node",
      },
    );
  });

  it('passes other load failures through unchanged', async () => {
    const broken = notFound('@redis/client');
    await assert.rejects(
      importDriver('redis', () => Promise.reject(broken)),
      (err) => err === broken,
    );
    assert.ok(!(broken instanceof DriverNotInstalledError));
  });

  it('recognises the error Node really raises', async () => {
    const err = await import('wiremesh-no-such-package' as string).catch((e: unknown) => e);
    assert.ok(isMissingPackage(err, 'wiremesh-no-such-package'));
    assert.ok(!isMissingPackage(err, 'redis'));
  });
});
