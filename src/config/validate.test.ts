import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { ConfigError } from './errors.js';
import { appDefaults, DEFAULT_APP, defaults } from './schema.js';
import type { Config } from './schema.js';
import { isDefaultCredentials, validateConfig } from './validate.js';

const app = { id: 'a1', key: 'k1', secret: 's1' };
const SECRET = 'mesh-secret-of-at-least-32-bytes';

/** The example from the README: it must validate exactly as written. */
const EXAMPLE = {
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
        {
          url: 'http://127.0.0.1:6130/webhook',
          events: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event'],
        },
      ],
    },
  ],
};

function fails(raw: unknown, path: string, message: string): void {
  assert.throws(
    () => validateConfig(raw),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.name, 'ConfigError');
      assert.equal(err.message, message);
      assert.equal(err.path, path);
      return true;
    },
  );
}

describe('validateConfig: valid configs', () => {
  it('accepts the README example and fills every default', () => {
    const config = validateConfig(EXAMPLE);
    const { apps, ...rest } = config;
    assert.deepEqual(rest, { ...defaults(), host: '127.0.0.1', port: 6001, nodeId: rest.nodeId });
    assert.deepEqual(apps, [
      {
        ...appDefaults(),
        id: 'app-id',
        key: 'app-key',
        secret: 'app-secret',
        clientEvents: true,
        userAuthentication: true,
        webhooks: [{ ...EXAMPLE.apps[0]!.webhooks[0]!, headers: {}, filter: {} }],
      },
    ]);
  });

  it('accepts the redis and nats cluster sections of the README', () => {
    const redis = validateConfig({
      ...EXAMPLE,
      cluster: { driver: 'redis', redis: { url: 'redis://127.0.0.1:6379' } },
    });
    assert.deepEqual(redis.cluster, { ...defaults().cluster, driver: 'redis' });
    const nats = validateConfig({
      ...EXAMPLE,
      cluster: { driver: 'nats', nats: { servers: ['nats://127.0.0.1:4222'] } },
    });
    assert.deepEqual(nats.cluster, { ...defaults().cluster, driver: 'nats' });
  });

  it('accepts the mesh section of the docs', () => {
    const mesh = {
      port: 6100,
      host: '0.0.0.0',
      peers: ['10.0.0.2:6100', 'node-b.internal:6100'],
      dns: 'wiremesh.internal',
      secret: 'shared-secret-of-at-least-thirty-two-bytes',
    };
    const config = validateConfig({ ...EXAMPLE, cluster: { driver: 'mesh', mesh } });
    assert.deepEqual(config.cluster, { ...defaults().cluster, driver: 'mesh', mesh: { ...mesh, dnsMaxAddresses: 64 } });
    const byDns = validateConfig({
      cluster: { driver: 'mesh', mesh: { host: '::', dns: 'my-app.internal', secret: SECRET } },
    });
    assert.deepEqual(byDns.cluster.mesh, {
      ...defaults().cluster.mesh,
      host: '::',
      dns: 'my-app.internal',
      secret: SECRET,
    });
    // Loopback peers need no host: the default (127.0.0.1) is the one that reaches them.
    const local = validateConfig({
      cluster: { driver: 'mesh', mesh: { peers: ['127.0.0.1:6100', '[::1]:6101'], secret: SECRET } },
    });
    assert.equal(local.cluster.mesh.host, '127.0.0.1');
    // Without the mesh driver, the section is only checked for typos and wrong values.
    assert.equal(validateConfig({ cluster: { mesh: { peers: [] } } }).cluster.driver, 'memory');
  });

  it('uses the default app and the host name when nothing is given', () => {
    for (const raw of [{}, { apps: [] }]) {
      const config = validateConfig(raw);
      assert.deepEqual(config.apps, [{ ...DEFAULT_APP, ...appDefaults() }]);
      assert.equal(
        config.nodeId,
        os
          .hostname()
          .replace(/[^A-Za-z0-9._-]/g, '-')
          .slice(0, 128),
      );
      assert.equal(isDefaultCredentials(config), true);
    }
    assert.equal(isDefaultCredentials(validateConfig({ apps: [app] })), false);
    assert.equal(isDefaultCredentials(validateConfig({ apps: [app, { ...DEFAULT_APP, key: 'other' }] })), true);
  });

  it('serves the default credentials on loopback only: no host → 127.0.0.1; real credentials keep 0.0.0.0', () => {
    assert.equal(validateConfig({}).host, '127.0.0.1');
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost'])
      assert.equal(validateConfig({ host }).host, host);
    assert.equal(validateConfig({ apps: [app] }).host, '0.0.0.0');
    assert.equal(validateConfig({ host: '::', apps: [app] }).host, '::');
  });

  it('keeps every field of a config that sets all of them (no field is dropped)', () => {
    const full: Config = {
      host: '::',
      port: 0,
      nodeId: 'node-a.eu_1',
      logLevel: 'debug',
      transport: 'ws',
      workers: 1,
      activityTimeout: 30,
      pongTimeoutMs: 5000,
      shutdownGraceMs: 0,
      metrics: false,
      metricsPort: 9601,
      metricsHost: '10.0.0.5',
      metricsToken: 'a-token-of-20-charsx',
      trustedProxies: ['10.0.0.0/8', 'fd00::/8'],
      proxyHeader: 'fly-client-ip',
      limits: {
        maxFrameBytes: 1024,
        maxRequestBodyBytes: 2048,
        maxBufferedBytes: 4096,
        maxChannelNameLength: 200,
        maxConnections: 5000,
        maxConnectionsPerIp: 0,
        headersTimeoutMs: 5000,
        maxChannelsPerConnection: 10,
        maxSubscriptionsPerIp: 50,
        maxFramesPerSecond: 5,
        maxFrameBurst: 5,
        maxReplicatedSubscriptionsPerNode: 100,
        maxTunnelBufferedBytes: 0,
        maxTunnelBufferedBytesPerIp: 0,
      },
      webhooks: {
        batchMs: 0,
        timeoutMs: 1000,
        retryForMs: 0,
        maxQueuedBatches: 5,
        maxBatchEvents: 50,
        maxBatchBytes: 4096,
        maxQueuedBytes: 65536,
      },
      region: 'eu-west',
      dashboard: { enabled: true, host: '0.0.0.0', port: 0, token: 'a-dashboard-token-1234' },
      cluster: {
        driver: 'nats',
        redis: { url: 'rediss://user:pw@redis.internal:6380/2', prefix: 'wm:eu', sharded: true },
        nats: {
          servers: ['tls://n1:4222', 'n2:4222'],
          prefix: 'wm.eu',
          user: 'u',
          pass: 'p',
          historyStorage: 'file',
          historyReplicas: 1,
        },
        mesh: {
          port: 7100,
          host: '::',
          peers: ['10.0.0.2:7100', '[fdaa::3]:7100'],
          dns: 'app.internal',
          dnsMaxAddresses: 16,
          secret: SECRET,
        },
        heartbeatMs: 500,
        nodeTimeoutMs: 1000,
      },
      apps: [
        {
          id: '12345',
          key: 'key-1',
          secret: 'secret-1',
          enabled: false,
          clientEvents: true,
          userAuthentication: true,
          signinTimeoutMs: 3000,
          maxConnections: 7,
          maxClientEventsPerSecond: 0,
          maxPresenceMembers: 3,
          maxPresenceMemberSizeBytes: 10,
          maxEventPayloadBytes: 2000,
          maxEventNameLength: 20,
          maxEventChannels: 2,
          maxEventBatchSize: 1,
          webhooks: [
            {
              url: 'https://example.com/hook',
              events: ['cache_miss', 'subscription_count'],
              headers: { Authorization: 'Bearer x' },
              filter: { channelNamePrefix: 'presence-', channelNameSuffix: '-room' },
            },
          ],
        },
      ],
    };
    assert.deepEqual(validateConfig(structuredClone(full)), full);
  });

  it('reads a numeric app id as a string', () => {
    assert.equal(validateConfig({ apps: [{ ...app, id: 12345 }] }).apps[0]!.id, '12345');
  });

  it('does not share arrays with the raw input or with defaults()', () => {
    const raw = { cluster: { nats: { servers: ['n1:4222'] } } };
    const config = validateConfig(raw);
    config.cluster.nats.servers.push('n2:4222');
    assert.deepEqual(raw.cluster.nats.servers, ['n1:4222']);
    assert.deepEqual(validateConfig({}).cluster.nats.servers, defaults().cluster.nats.servers);
  });
});

describe('validateConfig: one precise message per problem', () => {
  const cases: Array<[string, unknown, string, string]> = [
    ['not an object', [], '', 'Invalid config: the config (an array) must be an object'],
    [
      'default credentials on every interface',
      { host: '0.0.0.0' },
      'host',
      'Invalid config: host ("0.0.0.0") serves apps[0] with the publicly known key/secret (app-key / app-secret) on a non-loopback address: ' +
        'set real credentials (PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET, or apps in a config file; e.g. `openssl rand -hex 32` for the secret), or listen on 127.0.0.1',
    ],
    [
      'metricsPort on the client port',
      { port: 7000, metricsPort: 7000 },
      'metricsPort',
      'Invalid config: metricsPort (7000) must differ from port (7000); 0 serves /metrics on port itself',
    ],
    [
      'a short metrics token',
      { metricsToken: 'short' },
      'metricsToken',
      'Invalid config: metricsToken ("short") must be 16 to 512 token characters (A-Z a-z 0-9 . _ ~ + / = -)',
    ],
    [
      'unknown top-level key',
      { hots: 'x' },
      'hots',
      'Invalid config: hots is not a known setting (did you mean host?)',
    ],
    ['unknown key far from any', { colour: 'red' }, 'colour', 'Invalid config: colour is not a known setting'],
    [
      'Soketi file key',
      { 'appManager.array.apps': [] },
      '["appManager.array.apps"]',
      'Invalid config: ["appManager.array.apps"] is not a known setting (did you mean apps?)',
    ],
    ['port too large', { port: 70000 }, 'port', 'Invalid config: port (70000) must be an integer from 0 to 65535'],
    ['port as string', { port: '6001' }, 'port', 'Invalid config: port ("6001") must be an integer from 0 to 65535'],
    ['port fraction', { port: 60.5 }, 'port', 'Invalid config: port (60.5) must be an integer from 0 to 65535'],
    ['null is not a default', { host: null }, 'host', 'Invalid config: host (null) must be a non-empty string'],
    [
      'log level',
      { logLevel: 'warning' },
      'logLevel',
      'Invalid config: logLevel ("warning") must be one of debug, info, warn, error, silent (did you mean warn?)',
    ],
    [
      'transport',
      { transport: 'uwebsockets' },
      'transport',
      'Invalid config: transport ("uwebsockets") must be one of auto, ws, uws',
    ],
    ['metrics', { metrics: 'yes' }, 'metrics', 'Invalid config: metrics ("yes") must be true or false'],
    [
      'dashboard off loopback without a token',
      { dashboard: { enabled: true, host: '0.0.0.0' } },
      'dashboard.token',
      'Invalid config: dashboard.token is required when dashboard.host (0.0.0.0) is not a loopback address',
    ],
    [
      'dashboard token too short',
      { dashboard: { token: 'short' } },
      'dashboard.token',
      'Invalid config: dashboard.token must be 16 to 256 printable characters',
    ],
    [
      'negative ms',
      { shutdownGraceMs: -1 },
      'shutdownGraceMs',
      'Invalid config: shutdownGraceMs (-1) must be a non-negative integer',
    ],
    [
      'zero activity timeout',
      { activityTimeout: 0 },
      'activityTimeout',
      'Invalid config: activityTimeout (0) must be a positive integer',
    ],
    [
      'node id',
      { nodeId: 'node a' },
      'nodeId',
      "Invalid config: nodeId (\"node a\") must be 1 to 128 letters, digits, '.', '_' or '-'",
    ],
    [
      'frame limit',
      { limits: { maxFrameBytes: 512 } },
      'limits.maxFrameBytes',
      'Invalid config: limits.maxFrameBytes (512) must be an integer of at least 1024',
    ],
    [
      'connection limit',
      { limits: { maxConnections: 'unlimited' } },
      'limits.maxConnections',
      'Invalid config: limits.maxConnections ("unlimited") must be "auto" or an integer of at least 0',
    ],
    [
      'frame burst below the rate',
      { limits: { maxFramesPerSecond: 50, maxFrameBurst: 10 } },
      'limits.maxFrameBurst',
      'Invalid config: limits.maxFrameBurst (10) must be at least limits.maxFramesPerSecond (50)',
    ],
    [
      'limits typo',
      { limits: { maxFrameSize: 2048 } },
      'limits.maxFrameSize',
      'Invalid config: limits.maxFrameSize is not a known setting (did you mean maxFrameBytes?)',
    ],
    ['webhooks section', { webhooks: [] }, 'webhooks', 'Invalid config: webhooks (an array) must be an object'],
    [
      'cluster timing',
      { cluster: { heartbeatMs: 1000, nodeTimeoutMs: 1500 } },
      'cluster.nodeTimeoutMs',
      'Invalid config: cluster.nodeTimeoutMs (1500) must be at least twice cluster.heartbeatMs (1000)',
    ],
    [
      'cluster driver',
      { cluster: { driver: 'redsi' } },
      'cluster.driver',
      'Invalid config: cluster.driver ("redsi") must be one of memory, redis, nats, mesh (did you mean redis?)',
    ],
    [
      'redis url',
      { cluster: { redis: { url: 'http://u:secret@x' } } },
      'cluster.redis.url',
      'Invalid config: cluster.redis.url ("http://***@x") must be a redis:// or rediss:// URL',
    ],
    [
      'nats servers',
      { cluster: { nats: { servers: ['nats://a:4222', 'http://b'] } } },
      'cluster.nats.servers[1]',
      'Invalid config: cluster.nats.servers[1] ("http://b") must be a NATS server URL (nats://, tls://, ws://, wss:// or host:port)',
    ],
    [
      'nats user without pass',
      { cluster: { nats: { user: 'u' } } },
      'cluster.nats.pass',
      'Invalid config: cluster.nats.pass is required when cluster.nats.user is set',
    ],
    [
      'mesh without secret',
      { cluster: { driver: 'mesh', mesh: { peers: ['10.0.0.2:6100'] } } },
      'cluster.mesh.secret',
      'Invalid config: cluster.mesh.secret is required when cluster.driver is mesh: a shared secret, the same on every node',
    ],
    [
      'mesh without peers',
      { cluster: { driver: 'mesh', mesh: { secret: SECRET } } },
      'cluster.mesh.peers',
      'Invalid config: cluster.mesh.peers must list at least one peer (host:port), or cluster.mesh.dns must be set, when cluster.driver is mesh',
    ],
    [
      'mesh port is the client port',
      { port: 6100, cluster: { driver: 'mesh', mesh: { host: '::', peers: ['a:6100'], secret: SECRET } } },
      'cluster.mesh.port',
      'Invalid config: cluster.mesh.port (6100) must differ from port (6100), which serves the clients',
    ],
    [
      'mesh peer without port',
      { cluster: { mesh: { peers: ['10.0.0.2:6100', 'node-b'] } } },
      'cluster.mesh.peers[1]',
      'Invalid config: cluster.mesh.peers[1] ("node-b") must be host:port, with a port from 1 to 65535 and an IPv6 address in brackets ([fd00::1]:6100)',
    ],
    [
      'mesh IPv6 peer without brackets',
      { cluster: { mesh: { peers: ['fdaa::3:6100'] } } },
      'cluster.mesh.peers[0]',
      'Invalid config: cluster.mesh.peers[0] ("fdaa::3:6100") must be host:port, with a port from 1 to 65535 and an IPv6 address in brackets ([fd00::1]:6100)',
    ],
    [
      'mesh peer port out of range',
      { cluster: { mesh: { peers: ['[fdaa::3]:70000'] } } },
      'cluster.mesh.peers[0]',
      'Invalid config: cluster.mesh.peers[0] ("[fdaa::3]:70000") must be host:port, with a port from 1 to 65535 and an IPv6 address in brackets ([fd00::1]:6100)',
    ],
    [
      'mesh peer twice',
      { cluster: { mesh: { peers: ['a:1', 'a:1'] } } },
      'cluster.mesh.peers[1]',
      'Invalid config: cluster.mesh.peers[1] ("a:1") is listed twice',
    ],
    [
      'mesh dns',
      { cluster: { mesh: { dns: 'http://app.internal' } } },
      'cluster.mesh.dns',
      'Invalid config: cluster.mesh.dns ("http://app.internal") must be a DNS name',
    ],
    [
      'mesh port',
      { cluster: { mesh: { port: 0 } } },
      'cluster.mesh.port',
      'Invalid config: cluster.mesh.port (0) must be an integer from 1 to 65535',
    ],
    [
      'mesh secret too short',
      { cluster: { driver: 'mesh', mesh: { peers: ['127.0.0.1:6100'], secret: 'a' } } },
      'cluster.mesh.secret',
      'Invalid config: cluster.mesh.secret must be at least 32 bytes (it has 1): anyone who can reach the mesh port can guess a short one; generate one with `openssl rand -hex 32`',
    ],
    [
      'mesh secret too short, whatever the driver',
      { cluster: { mesh: { secret: 'x'.repeat(31) } } },
      'cluster.mesh.secret',
      'Invalid config: cluster.mesh.secret must be at least 32 bytes (it has 31): anyone who can reach the mesh port can guess a short one; generate one with `openssl rand -hex 32`',
    ],
    [
      'mesh with remote peers and no host',
      { cluster: { driver: 'mesh', mesh: { peers: ['127.0.0.1:6100', '10.0.0.2:6100'], secret: SECRET } } },
      'cluster.mesh.host',
      'Invalid config: cluster.mesh.host is required when cluster.driver is mesh and peers are on other hosts (cluster.mesh.peers): the default 127.0.0.1 reaches this host only; set this node\'s private address, or "::" on a private network such as Fly.io\'s 6PN',
    ],
    [
      'mesh found by DNS and no host',
      { cluster: { driver: 'mesh', mesh: { dns: 'my-app.internal', secret: SECRET } } },
      'cluster.mesh.host',
      'Invalid config: cluster.mesh.host is required when cluster.driver is mesh and peers are on other hosts (cluster.mesh.dns): the default 127.0.0.1 reaches this host only; set this node\'s private address, or "::" on a private network such as Fly.io\'s 6PN',
    ],
    [
      'mesh secret is never echoed',
      { cluster: { mesh: { secret: 42 } } },
      'cluster.mesh.secret',
      'Invalid config: cluster.mesh.secret must be a non-empty string',
    ],
    [
      'mesh typo',
      { cluster: { mesh: { peer: ['a:1'] } } },
      'cluster.mesh.peer',
      'Invalid config: cluster.mesh.peer is not a known setting (did you mean peers?)',
    ],
    ['apps not an array', { apps: {} }, 'apps', 'Invalid config: apps (an object) must be an array'],
    ['app not an object', { apps: ['x'] }, 'apps[0]', 'Invalid config: apps[0] ("x") must be an object'],
    [
      'empty key',
      { apps: [{ ...app, key: '' }] },
      'apps[0].key',
      'Invalid config: apps[0].key must be a non-empty string',
    ],
    [
      'missing key',
      { apps: [{ id: 'a', secret: 's' }] },
      'apps[0].key',
      'Invalid config: apps[0].key must be a non-empty string',
    ],
    [
      'key with a slash',
      { apps: [{ ...app, key: 'a/b' }] },
      'apps[0].key',
      "Invalid config: apps[0].key (\"a/b\") must be a string without spaces, '/', '?', '#' or '%'",
    ],
    [
      'secret is never echoed',
      { apps: [{ ...app, secret: 12345 }] },
      'apps[0].secret',
      'Invalid config: apps[0].secret must be a non-empty string',
    ],
    [
      'typo is reported before the field it was meant to be',
      { apps: [{ id: 'a', kye: 'k', secret: 's' }] },
      'apps[0].kye',
      'Invalid config: apps[0].kye is not a known setting (did you mean key?)',
    ],
    [
      'app key typo',
      { apps: [{ ...app, clientEvent: true }] },
      'apps[0].clientEvent',
      'Invalid config: apps[0].clientEvent is not a known setting (did you mean clientEvents?)',
    ],
    [
      'snake case',
      { apps: [{ ...app, client_events: true }] },
      'apps[0].client_events',
      'Invalid config: apps[0].client_events is not a known setting (did you mean clientEvents?)',
    ],
    [
      'Soketi app key',
      { apps: [{ ...app, maxEventPayloadInKb: 100 }] },
      'apps[0].maxEventPayloadInKb',
      'Invalid config: apps[0].maxEventPayloadInKb is not a known setting (did you mean maxEventPayloadBytes?)',
    ],
    [
      'duplicate id',
      { apps: [app, { ...app, key: 'k2' }] },
      'apps[1].id',
      'Invalid config: apps[1].id ("a1") is already used by apps[0]',
    ],
    [
      'duplicate key',
      { apps: [app, { ...app, id: 'a2' }] },
      'apps[1].key',
      'Invalid config: apps[1].key ("k1") is already used by apps[0]',
    ],
    [
      'signin timeout without user authentication',
      { apps: [{ ...app, signinTimeoutMs: 5000 }] },
      'apps[0].signinTimeoutMs',
      'Invalid config: apps[0].signinTimeoutMs (5000) requires apps[0].userAuthentication to be true',
    ],
    [
      'payload larger than a request',
      { apps: [{ ...app, maxEventPayloadBytes: 2_000_000 }] },
      'apps[0].maxEventPayloadBytes',
      'Invalid config: apps[0].maxEventPayloadBytes (2000000) must not exceed limits.maxRequestBodyBytes (262144)',
    ],
    [
      'webhook url',
      { apps: [{ ...app, webhooks: [{ url: 'ftp://x', events: ['member_added'] }] }] },
      'apps[0].webhooks[0].url',
      'Invalid config: apps[0].webhooks[0].url ("ftp://x") must be an http(s) URL',
    ],
    [
      'webhook event',
      { apps: [{ ...app, webhooks: [{ url: 'http://x', events: ['member_add'] }] }] },
      'apps[0].webhooks[0].events[0]',
      'Invalid config: apps[0].webhooks[0].events[0] ("member_add") must be one of channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss, subscription_count, user_online, user_offline (did you mean member_added?)',
    ],
    [
      'webhook without events',
      { apps: [{ ...app, webhooks: [{ url: 'http://x' }] }] },
      'apps[0].webhooks[0].events',
      'Invalid config: apps[0].webhooks[0].events must list the events to send: channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss, subscription_count, user_online, user_offline',
    ],
    [
      'webhook event twice',
      { apps: [{ ...app, webhooks: [{ url: 'http://x', events: ['member_added', 'member_added'] }] }] },
      'apps[0].webhooks[0].events[1]',
      'Invalid config: apps[0].webhooks[0].events[1] ("member_added") is listed twice',
    ],
    [
      'Soketi webhook key',
      { apps: [{ ...app, webhooks: [{ url: 'http://x', event_types: ['member_added'] }] }] },
      'apps[0].webhooks[0].event_types',
      'Invalid config: apps[0].webhooks[0].event_types is not a known setting (did you mean events?)',
    ],
    [
      'reserved webhook header',
      {
        apps: [
          { ...app, webhooks: [{ url: 'http://x', events: ['member_added'], headers: { 'X-Pusher-Signature': 'x' } }] },
        ],
      },
      'apps[0].webhooks[0].headers["X-Pusher-Signature"]',
      'Invalid config: apps[0].webhooks[0].headers["X-Pusher-Signature"] is set by wiremesh and cannot be overridden',
    ],
    [
      'webhook filter typo',
      { apps: [{ ...app, webhooks: [{ url: 'http://x', events: ['member_added'], filter: { prefix: 'a' } }] }] },
      'apps[0].webhooks[0].filter.prefix',
      'Invalid config: apps[0].webhooks[0].filter.prefix is not a known setting',
    ],
  ];

  for (const [name, raw, path, message] of cases) {
    it(name, () => fails(raw, path, message));
  }
});
