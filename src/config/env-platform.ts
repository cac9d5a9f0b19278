/**
 * Cluster settings derived from what a platform or a migrated app already has in its environment,
 * applied only when neither the file nor WIREMESH_CLUSTER_DRIVER chose a cluster driver:
 * - Laravel Reverb: `REVERB_SCALING_ENABLED=true` → Redis, at `REDIS_URL` (or Laravel's
 *   `REDIS_HOST` / `REDIS_PORT` / `REDIS_USERNAME` / `REDIS_PASSWORD`);
 * - Soketi: `SOKETI_ADAPTER_DRIVER` (local, redis, nats), Redis at `SOKETI_DB_REDIS_*`;
 * - Fly.io: `FLY_APP_NAME` → the TCP peer mesh over `<app>.internal` (AAAA records on Fly's
 *   private IPv6 network), listening on `::`; `FLY_MACHINE_ID` is the node id. The mesh secret
 *   comes from `WIREMESH_MESH_SECRET` (`fly secrets set`).
 * Each value taken is reported as an EnvSource, like the plain variables.
 */
import { ConfigError } from './errors.js';
import { isPlainObject, type Raw } from './fields.js';
import { lookup, parse, type EnvSource } from './env.js';
import { parseJson } from './json.js';

function section(raw: Raw, key: string): Raw {
  const value = raw[key];
  if (isPlainObject(value)) return value;
  const fresh: Raw = {};
  if (value === undefined) raw[key] = fresh;
  return isPlainObject(raw[key]) ? (raw[key] as Raw) : fresh;
}

/** `redis://user:pass@host:port/db` from separate variables; undefined when `host` is unset. */
function redisUrl(
  env: NodeJS.ProcessEnv,
  names: { host: string; port: string; user: string; pass: string; db?: string },
) {
  const host = lookup(env, [names.host]);
  if (!host) return undefined;
  const port = lookup(env, [names.port])?.value ?? '6379';
  const user = lookup(env, [names.user])?.value ?? '';
  // Laravel's .env writes `REDIS_PASSWORD=null` for "no password".
  const pass = lookup(env, [names.pass])?.value;
  const auth = pass !== undefined && pass !== 'null' ? `${encodeURIComponent(user)}:${encodeURIComponent(pass)}@` : '';
  const db = names.db ? lookup(env, [names.db])?.value : undefined;
  const bracketed = host.value.includes(':') ? `[${host.value}]` : host.value;
  const used = [names.host, names.port, names.user, names.pass, ...(names.db ? [names.db] : [])].filter(
    (n) => lookup(env, [n]) !== undefined,
  );
  return { url: `redis://${auth}${bracketed}:${port}${db ? `/${db}` : ''}`, name: used.join('+') };
}

/** Soketi writes lists as JSON arrays (`["nats://a:4222"]`); a comma-separated list works too. */
function soketiList(found: { name: string; value: string }): unknown {
  if (!found.value.trim().startsWith('[')) return parse(found.name, found.value, 'list');
  const parsed = parseJson(found.value);
  if (!parsed.ok || !Array.isArray(parsed.value)) {
    throw new ConfigError(found.name, `Invalid environment: ${found.name} must be a JSON array of server URLs`);
  }
  return parsed.value;
}

const SOKETI_DRIVERS: Readonly<Record<string, 'memory' | 'redis' | 'nats'>> = {
  local: 'memory',
  redis: 'redis',
  nats: 'nats',
};

/** Fills `merged.cluster` (and the node id, host) from the platform's variables; see the file comment. */
export function applyPlatformEnv(merged: Raw, env: NodeJS.ProcessEnv, sources: EnvSource[]): void {
  const cluster = isPlainObject(merged.cluster) ? merged.cluster : undefined;
  const chosen = cluster?.driver !== undefined;
  const set = (target: Raw, key: string, value: unknown, path: string, name: string): void => {
    if (target[key] !== undefined) return;
    target[key] = value;
    sources.push({ path, name });
  };

  const reverb = lookup(env, ['REVERB_SCALING_ENABLED']);
  const soketi = lookup(env, ['SOKETI_ADAPTER_DRIVER']);
  const fly = lookup(env, ['FLY_APP_NAME']);
  if (!chosen && reverb && parse(reverb.name, reverb.value, 'boolean') === true) {
    const c = section(merged, 'cluster');
    set(c, 'driver', 'redis', 'cluster.driver', reverb.name);
    const redis = section(c, 'redis');
    const url =
      lookup(env, ['REDIS_URL']) ??
      (() => {
        const built = redisUrl(env, {
          host: 'REDIS_HOST',
          port: 'REDIS_PORT',
          user: 'REDIS_USERNAME',
          pass: 'REDIS_PASSWORD',
        });
        return built && { name: built.name, value: built.url };
      })();
    if (url) set(redis, 'url', url.value, 'cluster.redis.url', url.name);
  } else if (!chosen && soketi) {
    const driver = SOKETI_DRIVERS[soketi.value.trim().toLowerCase()];
    if (driver === undefined) {
      throw new ConfigError(
        soketi.name,
        `Invalid environment: ${soketi.name} (${JSON.stringify(soketi.value)}) must be local, redis or nats; ` +
          "for Soketi's cluster adapter use WIREMESH_CLUSTER_DRIVER=mesh with WIREMESH_MESH_PEERS or WIREMESH_MESH_DNS",
      );
    }
    const c = section(merged, 'cluster');
    set(c, 'driver', driver, 'cluster.driver', soketi.name);
    const built = redisUrl(env, {
      host: 'SOKETI_DB_REDIS_HOST',
      port: 'SOKETI_DB_REDIS_PORT',
      user: 'SOKETI_DB_REDIS_USERNAME',
      pass: 'SOKETI_DB_REDIS_PASSWORD',
      db: 'SOKETI_DB_REDIS_DB',
    });
    if (driver === 'redis' && built) set(section(c, 'redis'), 'url', built.url, 'cluster.redis.url', built.name);
    const nats = lookup(env, ['SOKETI_ADAPTER_NATS_SERVERS']);
    if (driver === 'nats' && nats)
      set(section(c, 'nats'), 'servers', soketiList(nats), 'cluster.nats.servers', nats.name);
  } else if (!chosen && fly) {
    const c = section(merged, 'cluster');
    set(c, 'driver', 'mesh', 'cluster.driver', fly.name);
    const mesh = section(c, 'mesh');
    if (mesh.peers === undefined) set(mesh, 'dns', `${fly.value}.internal`, 'cluster.mesh.dns', fly.name);
    set(mesh, 'host', '::', 'cluster.mesh.host', fly.name);
    if (mesh.secret === undefined) {
      throw new ConfigError(
        'cluster.mesh.secret',
        `Invalid environment: on Fly.io (${fly.name}=${fly.value}) the nodes form a mesh and need a shared secret: ` +
          `fly secrets set WIREMESH_MESH_SECRET=$(openssl rand -hex 32) --app ${fly.value}`,
      );
    }
  }
  if (fly) {
    // Fly's proxy and 6PN reach the machine over IPv6 as well as IPv4: listen on both.
    set(merged, 'host', '::', 'host', fly.name);
    const machine = lookup(env, ['FLY_MACHINE_ID']);
    if (machine) set(merged, 'nodeId', machine.value, 'nodeId', machine.name);
  }
}
