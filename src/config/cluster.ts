/**
 * Validation of the `cluster` section. The redis and nats sub-sections are checked even when
 * another driver is chosen, so a typo there is caught before the day the driver is switched.
 */
import { defaults } from './schema.js';
import type { ClusterConfig } from './schema.js';
import { invalid, Section } from './fields.js';

const DRIVERS = ['memory', 'redis', 'nats'] as const;
const NATS_SCHEMES = ['nats:', 'tls:', 'ws:', 'wss:'];
/** Safe inside Redis channel names and patterns. */
const REDIS_PREFIX = { pattern: /^[A-Za-z0-9_.:-]+$/, describe: "letters, digits, '_', '-', '.' or ':'" };
/** One or more NATS subject tokens (no wildcards, no spaces). */
const NATS_PREFIX = {
  pattern: /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
  describe: "NATS subject tokens (letters, digits, '_', '-') joined by '.'",
};

export function readCluster(raw: unknown, path = 'cluster'): ClusterConfig {
  const d = defaults().cluster;
  const s = Section.open(raw, path, Object.keys(d));
  const driver = s.oneOf('driver', DRIVERS, d.driver);

  const redis = Section.open(s.get('redis'), s.at('redis'), Object.keys(d.redis));
  const url = redis.string('url', d.redis.url);
  if (!hasScheme(url, ['redis:', 'rediss:'])) throw invalid(redis.at('url'), 'must be a redis:// or rediss:// URL', url);

  const nats = Section.open(s.get('nats'), s.at('nats'), ['servers', 'prefix', 'user', 'pass', 'token']);
  const servers = nats.list('servers', d.nats.servers, (value, at) => {
    if (typeof value !== 'string' || !isNatsServer(value)) {
      throw invalid(at, 'must be a NATS server URL (nats://, tls://, ws://, wss:// or host:port)', value);
    }
    return value;
  });
  if (servers.length === 0) throw invalid(nats.at('servers'), 'must list at least one server');
  const user = nats.optionalString('user');
  const pass = nats.optionalString('pass', { secret: true });
  const token = nats.optionalString('token', { secret: true });
  if ((user === undefined) !== (pass === undefined)) {
    const [given, missing] = user === undefined ? ['pass', 'user'] : ['user', 'pass'];
    throw invalid(nats.at(missing), `is required when ${nats.at(given)} is set`);
  }
  if (token !== undefined && user !== undefined) {
    throw invalid(nats.at('token'), `cannot be combined with ${nats.at('user')} and ${nats.at('pass')}`);
  }

  const heartbeatMs = s.int('heartbeatMs', d.heartbeatMs, 1);
  const nodeTimeoutMs = s.int('nodeTimeoutMs', d.nodeTimeoutMs, 1);
  if (nodeTimeoutMs < 2 * heartbeatMs) {
    throw invalid(s.at('nodeTimeoutMs'), `must be at least twice ${s.at('heartbeatMs')} (${heartbeatMs})`, nodeTimeoutMs);
  }

  return {
    driver,
    redis: {
      url,
      prefix: redis.string('prefix', d.redis.prefix, REDIS_PREFIX),
      sharded: redis.bool('sharded', d.redis.sharded),
    },
    nats: {
      servers,
      prefix: nats.string('prefix', d.nats.prefix, NATS_PREFIX),
      ...(user === undefined ? {} : { user }),
      ...(pass === undefined ? {} : { pass }),
      ...(token === undefined ? {} : { token }),
    },
    heartbeatMs,
    nodeTimeoutMs,
  };
}

function hasScheme(value: string, schemes: readonly string[]): boolean {
  try {
    const url = new URL(value);
    return schemes.includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

/** nats.js accepts `host:port` as well as URLs. */
function isNatsServer(value: string): boolean {
  return hasScheme(value.includes('://') ? value : `nats://${value}`, NATS_SCHEMES);
}
