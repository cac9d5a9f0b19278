/**
 * validateConfig: the raw config (file and environment merged) → a complete Config. Every
 * missing field takes its default from schema.ts; every present one is checked, cross-field
 * rules included, and the first problem is thrown as one ConfigError naming its path.
 */
import os from 'node:os';
import { DEFAULT_APP, defaults, LOOPBACK_HOST } from './schema.js';
import type { Config, TransportKind } from './schema.js';
import type { LogLevel } from '../log/logger.js';
import { readApps } from './apps.js';
import { readCluster } from './cluster.js';
import { invalid, isPlainObject, Section } from './fields.js';
import { readProxy } from './livewire.js';

const TOP_KEYS = [...Object.keys(defaults()), 'apps'];
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
const TRANSPORTS: readonly TransportKind[] = ['auto', 'ws', 'uws'];
const PROXY_HEADERS: readonly Config['proxyHeader'][] = ['x-forwarded-for', 'fly-client-ip'];
const NODE_ID = { pattern: /^[A-Za-z0-9._-]{1,128}$/, describe: "1 to 128 letters, digits, '.', '_' or '-'" };
const REGION = { pattern: /^[A-Za-z0-9._-]{1,64}$/, describe: "1 to 64 letters, digits, '.', '_' or '-'" };
const NO_SPACES = { pattern: /^\S+$/, describe: 'a host name or IP address' };
const METRICS_TOKEN = {
  pattern: /^[A-Za-z0-9._~+/=-]{16,512}$/,
  describe: '16 to 512 token characters (A-Z a-z 0-9 . _ ~ + / = -)',
};

export function validateConfig(raw: unknown): Config {
  if (!isPlainObject(raw)) throw invalid('', 'must be an object', raw);
  const d = defaults();
  const s = Section.open(raw, '', TOP_KEYS);

  const config: Config = {
    host: s.string('host', d.host, NO_SPACES),
    port: s.int('port', d.port, 0, 65535),
    nodeId: s.string('nodeId', defaultNodeId(), NODE_ID),
    logLevel: s.oneOf('logLevel', LOG_LEVELS, d.logLevel),
    transport: s.oneOf('transport', TRANSPORTS, d.transport),
    workers: readWorkers(s),
    activityTimeout: s.int('activityTimeout', d.activityTimeout, 1),
    pongTimeoutMs: s.int('pongTimeoutMs', d.pongTimeoutMs, 1),
    shutdownGraceMs: s.int('shutdownGraceMs', d.shutdownGraceMs, 0),
    metrics: s.bool('metrics', d.metrics),
    metricsPort: s.int('metricsPort', d.metricsPort, 0, 65535),
    metricsHost: s.string('metricsHost', d.metricsHost, NO_SPACES),
    metricsToken: s.optionalString('metricsToken', METRICS_TOKEN) ?? d.metricsToken,
    region: s.optionalString('region', REGION) ?? d.region,
    trustedProxies: s.list('trustedProxies', d.trustedProxies, readProxy),
    proxyHeader: s.oneOf('proxyHeader', PROXY_HEADERS, d.proxyHeader),
    dashboard: readDashboard(s.get('dashboard')),
    limits: readLimits(s.get('limits')),
    webhooks: readWebhooks(s.get('webhooks')),
    cluster: readCluster(s.get('cluster')),
    apps: readApps(s.get('apps')),
  };

  // Channel history in the broker: a Redis Stream per channel on the redis driver, a JetStream
  // stream per app on the nats driver; elsewhere the streams are sequenced in memory by their owner.
  const brokerStore = config.cluster.driver === 'redis' || config.cluster.driver === 'nats';
  config.apps.forEach((app, i) => {
    if (!app.history) return;
    if (app.history.store === 'broker' && !brokerStore) {
      throw invalid(
        `apps[${i}].history.store`,
        `needs cluster.driver redis or nats (the ${config.cluster.driver} driver keeps history in memory: set store to memory or auto)`,
        'broker',
      );
    }
    if (app.history.store === 'auto') app.history.store = brokerStore ? 'broker' : 'memory';
  });

  // An event of the largest allowed size must fit in one HTTP request and in one socket's buffer.
  config.apps.forEach((app, i) => {
    const path = `apps[${i}].maxEventPayloadBytes`;
    for (const limit of ['maxRequestBodyBytes', 'maxBufferedBytes'] as const) {
      if (app.maxEventPayloadBytes > config.limits[limit]) {
        throw invalid(path, `must not exceed limits.${limit} (${config.limits[limit]})`, app.maxEventPayloadBytes);
      }
    }
    // A tunnelled request arrives in one frame, and a larger frame closes the socket (1009): the
    // default is capped at the frame limit; a larger value set on purpose is an error.
    const lw = app.livewire;
    if (lw && lw.maxRequestBytes > config.limits.maxFrameBytes) {
      if (tunnelSetting(raw, i, 'maxRequestBytes') !== undefined) {
        const at = `apps[${i}].livewire.maxRequestBytes`;
        throw invalid(at, `must not exceed limits.maxFrameBytes (${config.limits.maxFrameBytes})`, lw.maxRequestBytes);
      }
      lw.maxRequestBytes = config.limits.maxFrameBytes;
    }
    // A tunnelled response is held whole before it is sent: the node's and an address's budgets must hold one.
    for (const limit of ['maxTunnelBufferedBytes', 'maxTunnelBufferedBytesPerIp'] as const) {
      const budget = config.limits[limit];
      if (lw && budget !== 0 && budget < lw.maxResponseBytes) {
        throw invalid(
          `limits.${limit}`,
          `must be 0 (no limit) or at least apps[${i}].livewire.maxResponseBytes (${lw.maxResponseBytes})`,
          budget,
        );
      }
    }
    // A fragment's HTML goes to every viewer in one frame: it must fit well in a socket's buffer.
    const fr = app.fragments;
    if (fr && fr.maxHtmlBytes > config.limits.maxBufferedBytes / 4) {
      const at = `apps[${i}].fragments.maxHtmlBytes`;
      throw invalid(
        at,
        `must not exceed a quarter of limits.maxBufferedBytes (${config.limits.maxBufferedBytes / 4})`,
        fr.maxHtmlBytes,
      );
    }
  });
  secureDefaults(config, s.get('host') !== undefined);
  if (config.metricsPort !== 0 && config.metricsPort === config.port) {
    throw invalid(
      'metricsPort',
      `must differ from port (${config.port}); 0 serves /metrics on port itself`,
      config.metricsPort,
    );
  }
  // Clients and the other nodes cannot share one port.
  const mesh = config.cluster.mesh;
  if (config.cluster.driver === 'mesh' && mesh.port === config.port) {
    throw invalid('cluster.mesh.port', `must differ from port (${config.port}), which serves the clients`, mesh.port);
  }
  if (config.workers > 1) {
    // SO_REUSEPORT shares one known port between the workers; an ephemeral port cannot be shared.
    if (config.port === 0) throw invalid('port', `must be a fixed port when workers is ${config.workers}`, 0);
    const first = mesh.port;
    const last = first + config.workers - 1;
    if (last > 65535)
      throw invalid(
        'cluster.mesh.port',
        `leaves no room for ${config.workers} workers (ports ${first}-${last})`,
        first,
      );
    if (
      config.cluster.driver !== 'redis' &&
      config.cluster.driver !== 'nats' &&
      config.port >= first &&
      config.port <= last
    ) {
      throw invalid(
        'cluster.mesh.port',
        `the workers listen for each other on ${first}-${last}, which includes port (${config.port})`,
        first,
      );
    }
  }
  return config;
}

const MAX_WORKERS = 256;

/** A whole number ≥ 1, or "auto" (one per CPU). The environment gives it as a string. */
function readWorkers(s: Section): number {
  const value = s.get('workers');
  if (value === undefined) return defaults().workers;
  if (value === 'auto') return Math.min(os.availableParallelism(), MAX_WORKERS);
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw invalid('workers', `must be "auto" or an integer from 1 to ${MAX_WORKERS}`, value);
  }
  return n;
}

function readLimits(raw: unknown): Config['limits'] {
  const d = defaults().limits;
  const s = Section.open(raw, 'limits', Object.keys(d));
  return {
    maxFrameBytes: s.int('maxFrameBytes', d.maxFrameBytes, 1024),
    maxRequestBodyBytes: s.int('maxRequestBodyBytes', d.maxRequestBodyBytes, 1024),
    maxBufferedBytes: s.int('maxBufferedBytes', d.maxBufferedBytes, 1024),
    maxChannelNameLength: s.int('maxChannelNameLength', d.maxChannelNameLength, 1),
    maxConnections: readMaxConnections(s),
    maxConnectionsPerIp: s.int('maxConnectionsPerIp', d.maxConnectionsPerIp, 0),
    headersTimeoutMs: s.int('headersTimeoutMs', d.headersTimeoutMs, 0, 30_000),
    maxChannelsPerConnection: s.int('maxChannelsPerConnection', d.maxChannelsPerConnection, 0),
    maxSubscriptionsPerIp: s.int('maxSubscriptionsPerIp', d.maxSubscriptionsPerIp, 0),
    maxFramesPerSecond: s.int('maxFramesPerSecond', d.maxFramesPerSecond, 0),
    maxFrameBurst: readFrameBurst(s),
    maxReplicatedSubscriptionsPerNode: s.int(
      'maxReplicatedSubscriptionsPerNode',
      d.maxReplicatedSubscriptionsPerNode,
      0,
    ),
    maxTunnelBufferedBytes: s.int('maxTunnelBufferedBytes', d.maxTunnelBufferedBytes, 0),
    maxTunnelBufferedBytesPerIp: s.int('maxTunnelBufferedBytesPerIp', d.maxTunnelBufferedBytesPerIp, 0),
  };
}

/** `"auto"` (derived from the open-file limit at start) or a whole number ≥ 0. */
function readMaxConnections(s: Section): number | 'auto' {
  const raw = s.get('maxConnections');
  if (raw === undefined || raw === 'auto') return 'auto';
  // The environment gives it as a string.
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(s.at('maxConnections'), 'must be "auto" or an integer of at least 0', value);
  }
  return value;
}

/** The bucket must hold at least one second's worth of frames, or the sustained rate could never be reached. */
function readFrameBurst(s: Section): number {
  const rate = s.int('maxFramesPerSecond', defaults().limits.maxFramesPerSecond, 0);
  const burst = s.int('maxFrameBurst', Math.max(defaults().limits.maxFrameBurst, rate), 1);
  if (burst < rate)
    throw invalid(s.at('maxFrameBurst'), `must be at least ${s.at('maxFramesPerSecond')} (${rate})`, burst);
  return burst;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function readDashboard(raw: unknown): Config['dashboard'] {
  const d = defaults().dashboard;
  const s = Section.open(raw, 'dashboard', Object.keys(d));
  const out = {
    enabled: s.bool('enabled', d.enabled),
    host: s.string('host', d.host, NO_SPACES),
    port: s.int('port', d.port, 0, 65535),
    token:
      s.optionalString('token', {
        pattern: /^[\x21-\x7e]{16,256}$/,
        describe: '16 to 256 printable characters',
        secret: true,
      }) ?? d.token,
  };
  // Secure by default: the dashboard lists channels and users; off loopback, only with a token.
  if (out.enabled && out.token === '' && !LOOPBACK.has(out.host)) {
    throw invalid('dashboard.token', `is required when dashboard.host (${out.host}) is not a loopback address`, '');
  }
  return out;
}

function readWebhooks(raw: unknown): Config['webhooks'] {
  const d = defaults().webhooks;
  const s = Section.open(raw, 'webhooks', Object.keys(d));
  return {
    batchMs: s.int('batchMs', d.batchMs, 0),
    timeoutMs: s.int('timeoutMs', d.timeoutMs, 1),
    retryForMs: s.int('retryForMs', d.retryForMs, 0),
    maxQueuedBatches: s.int('maxQueuedBatches', d.maxQueuedBatches, 1),
    maxBatchEvents: s.int('maxBatchEvents', d.maxBatchEvents, 1),
    maxBatchBytes: s.int('maxBatchBytes', d.maxBatchBytes, 1024),
    maxQueuedBytes: s.int('maxQueuedBytes', d.maxQueuedBytes, 1024),
  };
}

/**
 * The well-known DEFAULT_APP credentials are served on loopback only (docs/security.md): without a
 * `host`, such a config binds LOOPBACK_HOST; with a `host` that is not loopback it is refused. The
 * same choice as Laravel Reverb and Phoenix (which generate their secrets at install): nothing
 * anyone on the network can sign is ever reachable from it. Real credentials keep `0.0.0.0`.
 */
function secureDefaults(config: Config, hostGiven: boolean): void {
  if (!isDefaultCredentials(config) || isLoopback(config.host)) return;
  if (!hostGiven) {
    config.host = LOOPBACK_HOST;
    return;
  }
  const app = config.apps.findIndex((a) => a.key === DEFAULT_APP.key || a.secret === DEFAULT_APP.secret);
  throw invalid(
    'host',
    `serves apps[${app}] with the publicly known key/secret (${DEFAULT_APP.key} / ${DEFAULT_APP.secret}) on a non-loopback address: ` +
      'set real credentials (PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET, or apps in a config file; e.g. `openssl rand -hex 32` for the secret), ' +
      'or listen on 127.0.0.1',
    config.host,
  );
}

/** 127.0.0.0/8, ::1 and `localhost`: only this machine can connect. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return (
    h === 'localhost' ||
    h === '::1' ||
    h === '[::1]' ||
    /^127(?:\.\d{1,3}){3}$/.test(h) ||
    /^::ffff:127(?:\.\d{1,3}){3}$/.test(h)
  );
}

/**
 * True when some app still uses the publicly known DEFAULT_APP key or secret (no apps were
 * configured, or they were copied from an example). The CLI warns: anyone can sign API calls.
 */
export function isDefaultCredentials(config: Pick<Config, 'apps'>): boolean {
  return config.apps.some((app) => app.key === DEFAULT_APP.key || app.secret === DEFAULT_APP.secret);
}

/** `apps[i].livewire[key]` as written in the raw config (undefined when not given). */
function tunnelSetting(raw: Record<string, unknown>, i: number, key: string): unknown {
  const apps = raw.apps;
  const app: unknown = Array.isArray(apps) ? apps[i] : undefined;
  const lw = isPlainObject(app) ? app.livewire : undefined;
  return isPlainObject(lw) ? lw[key] : undefined;
}

/** The host name, made safe for logs, metric labels and broker subjects. */
function defaultNodeId(): string {
  const name = os
    .hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 128);
  return name === '' ? 'wiremesh' : name;
}
