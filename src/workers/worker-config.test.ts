import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { ConfigError } from '../config/errors.js';
import { validateConfig } from '../config/validate.js';
import { workerConfig } from './worker-config.js';

const MESH_SECRET = 'worker-config-test-secret-of-32-bytes';

const app = { id: 'a1', key: 'k1', secret: 's1' };

describe('workers in the config', () => {
  it('share the per-address cap: each worker enforces ceil(cap / workers)', () => {
    const config = validateConfig({ apps: [app], workers: 3, port: 6001, limits: { maxConnectionsPerIp: 1000 } });
    for (let i = 0; i < 3; i++) assert.equal(workerConfig(config, i, 3, MESH_SECRET).limits.maxConnectionsPerIp, 334);
    const off = validateConfig({ apps: [app], workers: 2, port: 6001, limits: { maxConnectionsPerIp: 0 } });
    assert.equal(workerConfig(off, 0, 2, MESH_SECRET).limits.maxConnectionsPerIp, 0, '0 stays "no limit"');
  });

  it('defaults to 1; takes an integer, a numeric string (environment) or "auto" (one per CPU)', () => {
    assert.equal(validateConfig({ apps: [app] }).workers, 1);
    assert.equal(validateConfig({ apps: [app], workers: 3 }).workers, 3);
    assert.equal(validateConfig({ apps: [app], workers: '4' }).workers, 4);
    assert.equal(validateConfig({ apps: [app], workers: 'auto' }).workers, Math.min(os.availableParallelism(), 256));
  });

  it('refuses 0, fractions, words, too many, an ephemeral port and a mesh range over the client port', () => {
    for (const workers of [0, 1.5, 'two', 257, -1, true]) {
      assert.throws(
        () => validateConfig({ apps: [app], workers }),
        (e: unknown) => e instanceof ConfigError && e.path === 'workers',
        String(workers),
      );
    }
    assert.throws(
      () => validateConfig({ apps: [app], workers: 2, port: 0 }),
      /port \(0\) must be a fixed port when workers is 2/,
    );
    assert.throws(
      () => validateConfig({ apps: [app], workers: 3, port: 6101, cluster: { mesh: { port: 6100 } } }),
      /cluster\.mesh\.port \(6100\) the workers listen for each other on 6100-6102, which includes port \(6101\)/,
    );
    assert.throws(
      () => validateConfig({ apps: [app], workers: 4, cluster: { mesh: { port: 65534 } } }),
      /leaves no room for 4 workers/,
    );
    // Over a broker the workers need no ports of their own.
    assert.equal(
      validateConfig({ apps: [app], workers: 3, port: 6101, cluster: { driver: 'redis', mesh: { port: 6100 } } })
        .workers,
      3,
    );
  });
});

describe('workerConfig', () => {
  it('no cluster configured: the workers form a mesh on loopback, one port each, with the supervisor secret', () => {
    const base = validateConfig({ apps: [app], nodeId: 'n', workers: 3, cluster: { mesh: { port: 7000 } } });
    const w1 = workerConfig(base, 1, 3, 'sekret');
    assert.equal(w1.nodeId, 'n-w1');
    assert.equal(w1.workers, 1);
    assert.equal(w1.port, base.port);
    assert.equal(w1.cluster.driver, 'mesh');
    assert.deepEqual(w1.cluster.mesh, {
      port: 7001,
      host: '127.0.0.1',
      peers: ['127.0.0.1:7000', '127.0.0.1:7002'],
      secret: 'sekret',
    });
    assert.deepEqual(w1.apps, base.apps);
  });

  it('redis and nats: every worker is one more node on the broker', () => {
    const base = validateConfig({ apps: [app], nodeId: 'n', workers: 2, cluster: { driver: 'nats' } });
    const w0 = workerConfig(base, 0, 2, 'x');
    assert.deepEqual(w0, {
      ...base,
      nodeId: 'n-w0',
      workers: 1,
      limits: { ...base.limits, maxConnectionsPerIp: base.limits.maxConnectionsPerIp / 2 },
    });
  });

  it('mesh: worker i listens on port + i and dials its siblings and every port of every peer', () => {
    const base = validateConfig({
      apps: [app],
      nodeId: 'n',
      workers: 2,
      cluster: {
        driver: 'mesh',
        mesh: {
          port: 6100,
          host: '::',
          peers: ['10.0.0.2:6100', '[fd00::3]:6100'],
          dns: 'app.internal',
          secret: MESH_SECRET,
        },
      },
    });
    const w0 = workerConfig(base, 0, 2, 'ignored');
    assert.deepEqual(w0.cluster.mesh, {
      port: 6100,
      host: '::',
      peers: ['[::1]:6101', '10.0.0.2:6100', '10.0.0.2:6101', '[fd00::3]:6100', '[fd00::3]:6101'],
      dns: 'app.internal',
      dnsPorts: [6100, 6101],
      dnsMaxAddresses: 64,
      secret: MESH_SECRET,
    });
    const w1 = workerConfig(
      { ...base, cluster: { ...base.cluster, mesh: { ...base.cluster.mesh, host: '10.0.0.1' } } },
      1,
      2,
      '',
    );
    assert.equal(w1.cluster.mesh.port, 6101);
    assert.equal(w1.cluster.mesh.peers[0], '10.0.0.1:6100');
  });

  it('refuses an index outside the worker count', () => {
    const base = validateConfig({ apps: [app] });
    assert.throws(() => workerConfig(base, 2, 2, ''), RangeError);
    assert.throws(() => workerConfig(base, Number.NaN, 2, ''), RangeError);
  });
});
