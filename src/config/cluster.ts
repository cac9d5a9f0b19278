/**
 * Validation of the `cluster` section. The redis, nats and mesh sub-sections are checked even
 * when another driver is chosen, so a typo there is caught before the day the driver is
 * switched; what only the mesh driver needs (a secret, somewhere to find peers) is required only
 * when it is chosen.
 */
import { isIP } from 'node:net';
import { defaults } from './schema.js';
import type { ClusterConfig, MeshConfig } from './schema.js';
import { invalid, join, Section } from './fields.js';

/** The shortest mesh secret accepted: 32 bytes, as many as the HMAC-SHA256 key it becomes. */
export const MIN_SECRET_BYTES = 32;
const DRIVERS = ['memory', 'redis', 'nats', 'mesh'] as const;
const HOST = { pattern: /^\S+$/, describe: 'a host name or IP address' };
const DNS_NAME = { pattern: /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/, describe: 'a DNS name' };
/** `host:port` or `[v6]:port`. */
const PEER = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/;
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
  if (!hasScheme(url, ['redis:', 'rediss:']))
    throw invalid(redis.at('url'), 'must be a redis:// or rediss:// URL', url);

  const nats = Section.open(s.get('nats'), s.at('nats'), [
    'servers',
    'prefix',
    'user',
    'pass',
    'token',
    'historyStorage',
    'historyReplicas',
  ]);
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

  const mesh = readMesh(s.get('mesh'), s.at('mesh'), driver === 'mesh' ? s.at('driver') : null);

  const heartbeatMs = s.int('heartbeatMs', d.heartbeatMs, 1);
  const nodeTimeoutMs = s.int('nodeTimeoutMs', d.nodeTimeoutMs, 1);
  if (nodeTimeoutMs < 2 * heartbeatMs) {
    throw invalid(
      s.at('nodeTimeoutMs'),
      `must be at least twice ${s.at('heartbeatMs')} (${heartbeatMs})`,
      nodeTimeoutMs,
    );
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
      historyStorage: nats.oneOf('historyStorage', ['file', 'memory'] as const, d.nats.historyStorage),
      historyReplicas: nats.int('historyReplicas', d.nats.historyReplicas, 1, 5),
    },
    mesh,
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

/** `cluster.mesh`; `driverPath` is set when the mesh driver is chosen, which makes it required. */
function readMesh(raw: unknown, path: string, driverPath: string | null): MeshConfig {
  const d = defaults().cluster.mesh;
  const s = Section.open(raw, path, ['port', 'host', 'peers', 'dns', 'dnsServers', 'dnsMaxAddresses', 'secret']);
  const port = s.int('port', d.port, 1, 65535);
  const hostGiven = s.has('host');
  const host = s.string('host', d.host, HOST);
  const peers = s.list('peers', d.peers, readPeer);
  peers.forEach((peer, i) => {
    if (peers.indexOf(peer) !== i) throw invalid(join(s.at('peers'), i), 'is listed twice', peer);
  });
  const dns = s.optionalString('dns', DNS_NAME);
  const dnsServers = s.has('dnsServers') ? s.list('dnsServers', [], readDnsServer) : undefined;
  if (dnsServers !== undefined && dns === undefined)
    throw invalid(s.at('dnsServers'), `is used only with ${s.at('dns')}: set that too, or remove this`);
  if (dnsServers !== undefined && dnsServers.length === 0)
    throw invalid(s.at('dnsServers'), 'must list at least one server (or be left out for the system resolver)');
  const dnsMaxAddresses = s.int('dnsMaxAddresses', d.dnsMaxAddresses ?? 64, 1, 1_024);
  const secret = s.optionalString('secret', { secret: true });
  if (driverPath !== null && secret === undefined) {
    throw invalid(s.at('secret'), `is required when ${driverPath} is mesh: a shared secret, the same on every node`);
  }
  // The secret is never echoed; its length is no secret worth keeping.
  if (secret !== undefined && Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw invalid(
      s.at('secret'),
      `must be at least ${MIN_SECRET_BYTES} bytes (it has ${Buffer.byteLength(secret)}): anyone who can reach the mesh port ` +
        'can guess a short one; generate one with `openssl rand -hex 32`',
    );
  }
  if (driverPath !== null && peers.length === 0 && dns === undefined) {
    throw invalid(
      s.at('peers'),
      `must list at least one peer (host:port), or ${s.at('dns')} must be set, when ${driverPath} is mesh`,
    );
  }
  // The default host is loopback: a mesh reaching other hosts must say on which interface it
  // listens (a private address, or '::' / '0.0.0.0' on a private network), never by accident.
  if (driverPath !== null && !hostGiven && (dns !== undefined || peers.some((p) => !isLoopback(p)))) {
    throw invalid(
      s.at('host'),
      `is required when ${driverPath} is mesh and peers are on other hosts (${dns !== undefined ? s.at('dns') : s.at('peers')}): ` +
        `the default ${d.host} reaches this host only; set this node's private address, or "::" on a private network such as Fly.io's 6PN`,
    );
  }
  return {
    port,
    host,
    peers,
    ...(dns === undefined ? {} : { dns }),
    ...(dnsServers === undefined ? {} : { dnsServers }),
    dnsMaxAddresses,
    ...(secret === undefined ? {} : { secret }),
  };
}

/** A DNS server: an IP address, optionally with a port (`10.0.0.2:8600`, `[fd00::3]:53`). */
function readDnsServer(value: unknown, path: string): string {
  const m = typeof value === 'string' ? PEER.exec(value) : null;
  const ok =
    typeof value === 'string' &&
    (isIP(value) !== 0 || (m !== null && isIP(m[1] ?? m[2] ?? '') !== 0 && Number(m[3]) >= 1 && Number(m[3]) <= 65535));
  if (!ok)
    throw invalid(path, 'must be an IP address, optionally with a port (10.0.0.2, 10.0.0.2:8600, [fd00::3]:53)', value);
  return value as string;
}

/** True for a peer on this host: `localhost`, 127.0.0.0/8 or ::1. */
function isLoopback(peer: string): boolean {
  const host = peer.slice(0, peer.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function readPeer(value: unknown, path: string): string {
  const m = typeof value === 'string' ? PEER.exec(value) : null;
  const port = Number(m?.[3]);
  if (!m || (m[1] !== undefined && isIP(m[1]) !== 6) || port < 1 || port > 65535) {
    throw invalid(
      path,
      'must be host:port, with a port from 1 to 65535 and an IPv6 address in brackets ([fd00::1]:6100)',
      value,
    );
  }
  return value as string;
}
