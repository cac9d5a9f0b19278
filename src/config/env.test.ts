import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configFromEnv, envAppsMode, envSource } from './env.js';
import { ConfigError } from './errors.js';
import { validateConfig } from './validate.js';

function envFails(env: NodeJS.ProcessEnv, path: string, message: string): void {
  assert.throws(
    () => configFromEnv(env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, message);
      assert.equal(err.path, path);
      return true;
    },
  );
}

describe('configFromEnv', () => {
  it('returns nothing for an empty environment, and ignores unrelated and empty variables', () => {
    assert.deepEqual(configFromEnv({}), {});
    assert.deepEqual(configFromEnv({ HOME: '/root', WIREMESH_HOST: '', PUSHER_APP_SECRET: '' }), {});
  });

  it('maps every scalar variable onto the config shape', () => {
    const raw = configFromEnv({
      WIREMESH_HOST: '127.0.0.1',
      WIREMESH_PORT: '7001',
      WIREMESH_NODE_ID: 'node-1',
      WIREMESH_LOG_LEVEL: 'debug',
      WIREMESH_TRANSPORT: 'ws',
      WIREMESH_ACTIVITY_TIMEOUT: '30',
      WIREMESH_SHUTDOWN_GRACE_MS: '0',
      WIREMESH_METRICS: 'no',
      WIREMESH_MAX_FRAME_BYTES: '65536',
      WIREMESH_MAX_BUFFERED_BYTES: ' 1048576 ',
      WIREMESH_CLUSTER_DRIVER: 'nats',
      WIREMESH_REDIS_URL: 'redis://r:6379',
      WIREMESH_NATS_SERVERS: 'nats://a:4222, nats://b:4222,',
      WIREMESH_CLUSTER_HEARTBEAT_MS: '500',
      WIREMESH_CLUSTER_NODE_TIMEOUT_MS: '5000',
    });
    assert.deepEqual(raw, {
      host: '127.0.0.1',
      port: 7001,
      nodeId: 'node-1',
      logLevel: 'debug',
      transport: 'ws',
      activityTimeout: 30,
      shutdownGraceMs: 0,
      metrics: false,
      limits: { maxFrameBytes: 65536, maxBufferedBytes: 1048576 },
      cluster: {
        driver: 'nats',
        redis: { url: 'redis://r:6379' },
        nats: { servers: ['nats://a:4222', 'nats://b:4222'] },
        heartbeatMs: 500,
        nodeTimeoutMs: 5000,
      },
    });
    assert.equal(validateConfig(raw).cluster.nats.servers.length, 2);
  });

  it('maps the mesh variables onto cluster.mesh', () => {
    const raw = configFromEnv({
      WIREMESH_CLUSTER_DRIVER: 'mesh',
      WIREMESH_MESH_HOST: '::',
      WIREMESH_MESH_PORT: '6100',
      WIREMESH_MESH_PEERS: '10.0.0.2:6100, node-b.internal:6100,',
      WIREMESH_MESH_DNS: 'wiremesh.internal',
      WIREMESH_MESH_DNS_MAX_ADDRESSES: '32',
      WIREMESH_MESH_SECRET: 'shared-secret-of-at-least-32-bytes',
    });
    const mesh = {
      host: '::',
      port: 6100,
      peers: ['10.0.0.2:6100', 'node-b.internal:6100'],
      dns: 'wiremesh.internal',
      dnsMaxAddresses: 32,
      secret: 'shared-secret-of-at-least-32-bytes',
    };
    assert.deepEqual(raw, { cluster: { driver: 'mesh', mesh } });
    assert.deepEqual(validateConfig(raw).cluster.mesh, mesh);
    envFails(
      { WIREMESH_MESH_PORT: '6100/tcp' },
      'WIREMESH_MESH_PORT',
      'Invalid environment: WIREMESH_MESH_PORT ("6100/tcp") must be an integer',
    );
    assert.equal(
      envSource('cluster.mesh.secret', { WIREMESH_MESH_SECRET: 'x' }),
      'set by environment variable WIREMESH_MESH_SECRET',
    );
  });

  it('falls back to PORT, and WIREMESH_PORT wins over it', () => {
    assert.deepEqual(configFromEnv({ PORT: '8080' }), { port: 8080 });
    assert.deepEqual(configFromEnv({ PORT: '8080', WIREMESH_PORT: '6001' }), { port: 6001 });
  });

  it("maps the default app, falling back to Laravel's PUSHER_APP_* names", () => {
    assert.deepEqual(configFromEnv({ PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'k', PUSHER_APP_SECRET: 's' }), {
      apps: [{ id: '1', key: 'k', secret: 's' }],
    });
    const raw = configFromEnv({
      PUSHER_APP_ID: '1',
      PUSHER_APP_KEY: 'laravel-key',
      WIREMESH_APP_KEY: 'k',
      WIREMESH_APP_SECRET: 's',
      WIREMESH_APP_CLIENT_EVENTS: 'TRUE',
      WIREMESH_APP_USER_AUTHENTICATION: '1',
      WIREMESH_APP_MAX_CONNECTIONS: '100',
      WIREMESH_APP_MAX_PRESENCE_MEMBERS: '50',
      WIREMESH_APP_WEBHOOK_URL: 'https://laravel.test/pusher/webhook',
      WIREMESH_APP_WEBHOOK_EVENTS: 'channel_occupied,channel_vacated',
    });
    assert.deepEqual(raw, {
      apps: [
        {
          id: '1',
          key: 'k',
          secret: 's',
          clientEvents: true,
          userAuthentication: true,
          maxConnections: 100,
          maxPresenceMembers: 50,
          webhooks: [{ url: 'https://laravel.test/pusher/webhook', events: ['channel_occupied', 'channel_vacated'] }],
        },
      ],
    });
    assert.equal(validateConfig(raw).apps[0]!.webhooks[0]!.events.length, 2);
  });

  it('accepts true/false/1/0/yes/no in any case', () => {
    const forms: Array<[string, boolean]> = [
      ['true', true],
      ['false', false],
      ['1', true],
      ['0', false],
      ['yes', true],
      ['no', false],
      ['Yes', true],
      ['FALSE', false],
    ];
    for (const [value, expected] of forms)
      assert.deepEqual(configFromEnv({ WIREMESH_METRICS: value }), { metrics: expected });
  });

  it('refuses a boolean it does not know, naming the variable', () => {
    envFails(
      { WIREMESH_APP_CLIENT_EVENTS: 'on' },
      'WIREMESH_APP_CLIENT_EVENTS',
      'Invalid environment: WIREMESH_APP_CLIENT_EVENTS ("on") must be one of true, false, 1, 0, yes, no',
    );
  });

  it('refuses numbers that do not parse fully', () => {
    for (const value of ['6001abc', '60.5', '6e3', '0x10', 'abc']) {
      envFails(
        { WIREMESH_PORT: value },
        'WIREMESH_PORT',
        `Invalid environment: WIREMESH_PORT ("${value}") must be an integer`,
      );
    }
    envFails({ PORT: '80 80' }, 'PORT', 'Invalid environment: PORT ("80 80") must be an integer');
    envFails(
      { WIREMESH_CLUSTER_HEARTBEAT_MS: '99999999999999999999' },
      'WIREMESH_CLUSTER_HEARTBEAT_MS',
      'Invalid environment: WIREMESH_CLUSTER_HEARTBEAT_MS ("99999999999999999999") must be an integer',
    );
  });

  it('reads WIREMESH_APPS_JSON as the list of apps', () => {
    const apps = [
      { id: '1', key: 'k1', secret: 's1' },
      { id: '2', key: 'k2', secret: 's2', clientEvents: true },
    ];
    // PUSHER_APP_* from a shared Laravel .env does not get in the way.
    assert.deepEqual(configFromEnv({ WIREMESH_APPS_JSON: JSON.stringify(apps), PUSHER_APP_KEY: 'x' }), { apps });
  });

  it('reports bad WIREMESH_APPS_JSON with the position', () => {
    envFails(
      { WIREMESH_APPS_JSON: '[{"id": "1",}]' },
      'WIREMESH_APPS_JSON',
      'Invalid environment: WIREMESH_APPS_JSON is not valid JSON: Expected double-quoted property name in JSON at line 1, column 13',
    );
    envFails(
      { WIREMESH_APPS_JSON: '{"id": "1"}' },
      'WIREMESH_APPS_JSON',
      'Invalid environment: WIREMESH_APPS_JSON must be a JSON array of apps',
    );
    envFails(
      { WIREMESH_APPS_JSON: '[]', WIREMESH_APP_SECRET: 's' },
      'WIREMESH_APPS_JSON',
      'Invalid environment: WIREMESH_APPS_JSON cannot be combined with WIREMESH_APP_SECRET',
    );
  });
});

describe('envAppsMode', () => {
  it('says whether the environment defines apps or only app settings', () => {
    assert.equal(envAppsMode({ PUSHER_APP_ID: '' }), undefined);
    assert.deepEqual(envAppsMode({ WIREMESH_APPS_JSON: '[]' }), { mode: 'replace' });
    assert.deepEqual(envAppsMode({ PUSHER_APP_SECRET: 's' }), { mode: 'replace' });
    assert.deepEqual(envAppsMode({ WIREMESH_APP_CLIENT_EVENTS: 'yes', WIREMESH_APP_WEBHOOK_URL: 'http://x' }), {
      mode: 'settings',
      variables: ['WIREMESH_APP_CLIENT_EVENTS', 'WIREMESH_APP_WEBHOOK_URL'],
    });
  });
});

describe('envSource', () => {
  it('names the variable a value came from', () => {
    assert.equal(envSource('port', { PORT: '1' }), 'set by environment variable PORT');
    assert.equal(envSource('port', { PORT: '1', WIREMESH_PORT: '2' }), 'set by environment variable WIREMESH_PORT');
    assert.equal(
      envSource('cluster.nats.servers[1]', { WIREMESH_NATS_SERVERS: 'a,b' }),
      'set by environment variable WIREMESH_NATS_SERVERS',
    );
    assert.equal(
      envSource('apps[1].key', { WIREMESH_APPS_JSON: '[]' }),
      'set by environment variable WIREMESH_APPS_JSON',
    );
    assert.equal(
      envSource('apps[0].key', { WIREMESH_APPS_JSON: '[]', PUSHER_APP_KEY: 'k' }),
      'set by environment variable WIREMESH_APPS_JSON',
    );
    assert.equal(envSource('port', { WIREMESH_HOST: 'x' }), undefined);
    assert.equal(envSource('cluster.heartbeatMs', {}), undefined);
  });

  it('names the variable to set for a value missing from an app the environment defines', () => {
    assert.equal(
      envSource('apps[0].secret', { PUSHER_APP_KEY: 'k' }),
      'set environment variable WIREMESH_APP_SECRET or REVERB_APP_SECRET or PUSHER_APP_SECRET or SOKETI_DEFAULT_APP_SECRET',
    );
    assert.equal(
      envSource('apps[0].webhooks[0].url', { WIREMESH_APP_WEBHOOK_EVENTS: 'member_added' }),
      'set environment variable WIREMESH_APP_WEBHOOK_URL',
    );
    assert.equal(envSource('apps[0].secret', {}), undefined);
  });
});
