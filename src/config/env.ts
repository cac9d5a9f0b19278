/**
 * Environment variables → a partial raw config of the same shape as the config file, so both
 * go through validateConfig alike. Only parsing happens here (numbers, booleans, lists); ranges
 * and cross-field rules are validateConfig's. An empty variable counts as unset.
 */
import { ConfigError } from './errors.js';
import { join, show } from './fields.js';
import type { Raw } from './fields.js';
import { parseJson } from './json.js';

type Kind = 'string' | 'integer' | 'boolean' | 'list' | 'apps';

export interface EnvVariable {
  /**
   * The variable, then the names read when it is unset, in this order: Laravel Reverb's
   * (`REVERB_*`), Laravel's Pusher names (`PUSHER_APP_*`), Soketi's (`SOKETI_*`), the platform's `PORT`.
   */
  readonly names: readonly string[];
  /** Where the value goes in the raw config. */
  readonly path: readonly (string | number)[];
  readonly kind: Kind;
}

const v = (names: string | string[], path: (string | number)[], kind: Kind): EnvVariable => ({
  names: typeof names === 'string' ? [names] : names,
  path,
  kind,
});

const APP = ['apps', 0];
const HOOK = [...APP, 'webhooks', 0];

/** Every variable wiremesh reads, in the order it reads them. */
export const ENV_VARIABLES: readonly EnvVariable[] = [
  v(['WIREMESH_HOST', 'REVERB_SERVER_HOST', 'SOKETI_HOST'], ['host'], 'string'),
  v(['WIREMESH_PORT', 'REVERB_SERVER_PORT', 'SOKETI_PORT', 'PORT'], ['port'], 'integer'),
  v(['WIREMESH_NODE_ID', 'SOKETI_NODE_ID'], ['nodeId'], 'string'),
  v('WIREMESH_LOG_LEVEL', ['logLevel'], 'string'),
  v('WIREMESH_TRANSPORT', ['transport'], 'string'),
  v('WIREMESH_WORKERS', ['workers'], 'string'),
  v('WIREMESH_ACTIVITY_TIMEOUT', ['activityTimeout'], 'integer'),
  v(['WIREMESH_SHUTDOWN_GRACE_MS', 'SOKETI_SHUTDOWN_GRACE_PERIOD'], ['shutdownGraceMs'], 'integer'),
  v(['WIREMESH_METRICS', 'SOKETI_METRICS_ENABLED'], ['metrics'], 'boolean'),
  v('WIREMESH_METRICS_PORT', ['metricsPort'], 'integer'),
  v('WIREMESH_METRICS_HOST', ['metricsHost'], 'string'),
  v('WIREMESH_METRICS_TOKEN', ['metricsToken'], 'string'),
  v(['WIREMESH_REGION', 'FLY_REGION'], ['region'], 'string'),
  v('WIREMESH_TRUSTED_PROXIES', ['trustedProxies'], 'list'),
  v('WIREMESH_PROXY_HEADER', ['proxyHeader'], 'string'),
  v('WIREMESH_DASHBOARD', ['dashboard', 'enabled'], 'boolean'),
  v('WIREMESH_DASHBOARD_HOST', ['dashboard', 'host'], 'string'),
  v('WIREMESH_DASHBOARD_PORT', ['dashboard', 'port'], 'integer'),
  v('WIREMESH_DASHBOARD_TOKEN', ['dashboard', 'token'], 'string'),
  v('WIREMESH_MAX_FRAME_BYTES', ['limits', 'maxFrameBytes'], 'integer'),
  v('WIREMESH_MAX_BUFFERED_BYTES', ['limits', 'maxBufferedBytes'], 'integer'),
  v('WIREMESH_MAX_CONNECTIONS', ['limits', 'maxConnections'], 'string'),
  v('WIREMESH_MAX_CONNECTIONS_PER_IP', ['limits', 'maxConnectionsPerIp'], 'integer'),
  v('WIREMESH_HEADERS_TIMEOUT_MS', ['limits', 'headersTimeoutMs'], 'integer'),
  v('WIREMESH_MAX_CHANNELS_PER_CONNECTION', ['limits', 'maxChannelsPerConnection'], 'integer'),
  v('WIREMESH_MAX_SUBSCRIPTIONS_PER_IP', ['limits', 'maxSubscriptionsPerIp'], 'integer'),
  v('WIREMESH_MAX_FRAMES_PER_SECOND', ['limits', 'maxFramesPerSecond'], 'integer'),
  v('WIREMESH_MAX_TUNNEL_BUFFERED_BYTES', ['limits', 'maxTunnelBufferedBytes'], 'integer'),
  v('WIREMESH_MAX_TUNNEL_BUFFERED_BYTES_PER_IP', ['limits', 'maxTunnelBufferedBytesPerIp'], 'integer'),
  v('WIREMESH_CLUSTER_DRIVER', ['cluster', 'driver'], 'string'),
  v('WIREMESH_REDIS_URL', ['cluster', 'redis', 'url'], 'string'),
  v('WIREMESH_NATS_SERVERS', ['cluster', 'nats', 'servers'], 'list'),
  v('WIREMESH_MESH_HOST', ['cluster', 'mesh', 'host'], 'string'),
  v('WIREMESH_MESH_PORT', ['cluster', 'mesh', 'port'], 'integer'),
  v('WIREMESH_MESH_PEERS', ['cluster', 'mesh', 'peers'], 'list'),
  v('WIREMESH_MESH_DNS', ['cluster', 'mesh', 'dns'], 'string'),
  v('WIREMESH_MESH_DNS_SERVERS', ['cluster', 'mesh', 'dnsServers'], 'list'),
  v('WIREMESH_MESH_DNS_MAX_ADDRESSES', ['cluster', 'mesh', 'dnsMaxAddresses'], 'integer'),
  v('WIREMESH_MESH_SECRET', ['cluster', 'mesh', 'secret'], 'string'),
  v('WIREMESH_CLUSTER_HEARTBEAT_MS', ['cluster', 'heartbeatMs'], 'integer'),
  v('WIREMESH_CLUSTER_NODE_TIMEOUT_MS', ['cluster', 'nodeTimeoutMs'], 'integer'),
  v('WIREMESH_APPS_JSON', ['apps'], 'apps'),
  v(['WIREMESH_APP_ID', 'REVERB_APP_ID', 'PUSHER_APP_ID', 'SOKETI_DEFAULT_APP_ID'], [...APP, 'id'], 'string'),
  v(['WIREMESH_APP_KEY', 'REVERB_APP_KEY', 'PUSHER_APP_KEY', 'SOKETI_DEFAULT_APP_KEY'], [...APP, 'key'], 'string'),
  v(
    ['WIREMESH_APP_SECRET', 'REVERB_APP_SECRET', 'PUSHER_APP_SECRET', 'SOKETI_DEFAULT_APP_SECRET'],
    [...APP, 'secret'],
    'string',
  ),
  v(['WIREMESH_APP_CLIENT_EVENTS', 'SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES'], [...APP, 'clientEvents'], 'boolean'),
  v(
    ['WIREMESH_APP_USER_AUTHENTICATION', 'SOKETI_DEFAULT_APP_USER_AUTHENTICATION'],
    [...APP, 'userAuthentication'],
    'boolean',
  ),
  v('WIREMESH_APP_MAX_CONNECTIONS', [...APP, 'maxConnections'], 'integer'),
  v(['WIREMESH_APP_MAX_PRESENCE_MEMBERS', 'SOKETI_PRESENCE_MAX_MEMBERS'], [...APP, 'maxPresenceMembers'], 'integer'),
  v('WIREMESH_APP_WEBHOOK_URL', [...HOOK, 'url'], 'string'),
  v('WIREMESH_APP_WEBHOOK_EVENTS', [...HOOK, 'events'], 'list'),
];

export const APPS_JSON = 'WIREMESH_APPS_JSON';
/** The variables that describe the one app defined by the environment. */
const APP_VARIABLES = ENV_VARIABLES.filter((x) => x.path[0] === 'apps' && x.kind !== 'apps');

export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  if (lookup(env, [APPS_JSON]) !== undefined) {
    // PUSHER_APP_* may well sit in the same (Laravel) environment; only WIREMESH_APP_* conflicts.
    const conflict = APP_VARIABLES.map((x) => x.names[0]!).find((name) => lookup(env, [name]) !== undefined);
    if (conflict !== undefined) {
      throw new ConfigError(APPS_JSON, `Invalid environment: ${APPS_JSON} cannot be combined with ${conflict}`);
    }
  }
  const raw: Raw = {};
  for (const variable of variablesInUse(env)) {
    const found = lookup(env, variable.names);
    if (found) setIn(raw, variable.path, parse(found.name, found.value, variable.kind));
  }
  return raw;
}

/**
 * Why the config value at `path` (as in a ConfigError) is what it is, when the environment is
 * the reason: `set by environment variable PORT`; or, for a value missing from an object the
 * environment defines (the app of WIREMESH_APP_KEY without its secret), the variable to set:
 * `set environment variable WIREMESH_APP_SECRET or PUSHER_APP_SECRET`.
 */
export function envSource(path: string, env: NodeJS.ProcessEnv): string | undefined {
  const used = variablesInUse(env);
  const set = used.filter((x) => lookup(env, x.names) !== undefined);
  for (const variable of set) {
    if (within(path, pathString(variable.path)))
      return `set by environment variable ${lookup(env, variable.names)!.name}`;
  }
  // An object inside a list (an app, a webhook endpoint) exists only because some variable set a
  // field of it; a required field left out is then the environment's to set.
  const missing = used.find((x) => pathString(x.path) === path && typeof x.path.at(-2) === 'number');
  if (missing && set.some((x) => pathString(x.path.slice(0, -1)) === pathString(missing.path.slice(0, -1)))) {
    return `set environment variable ${missing.names.join(' or ')}`;
  }
  return undefined;
}

/** Which variable supplied a config value (`apps[0].key` ← `REVERB_APP_KEY`), for the start-up log. */
export interface EnvSource {
  readonly path: string;
  readonly name: string;
  /** Other names of the same setting that are set to another value and were not read. */
  readonly shadowed?: readonly string[];
}

/** The variable behind each value configFromEnv(env) sets (names only: values may be secrets). */
export function envSources(env: NodeJS.ProcessEnv): EnvSource[] {
  return variablesInUse(env).flatMap((variable) => {
    const found = lookup(env, variable.names);
    if (!found) return [];
    const shadowed = variable.names.filter(
      (name) => name !== found.name && (lookup(env, [name])?.value ?? found.value) !== found.value,
    );
    const path = pathString(variable.path);
    return [shadowed.length > 0 ? { path, name: found.name, shadowed } : { path, name: found.name }];
  });
}

/** With WIREMESH_APPS_JSON set, the variables of the single environment app are not read. */
function variablesInUse(env: NodeJS.ProcessEnv): readonly EnvVariable[] {
  if (lookup(env, [APPS_JSON]) === undefined) return ENV_VARIABLES;
  return ENV_VARIABLES.filter((x) => !APP_VARIABLES.includes(x));
}

export function lookup(env: NodeJS.ProcessEnv, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}

export function parse(name: string, value: string, kind: Kind): unknown {
  const bad = (problem: string): ConfigError =>
    new ConfigError(name, `Invalid environment: ${name} (${show(value)}) ${problem}`);
  switch (kind) {
    case 'string':
      return value;
    case 'integer': {
      const n = Number(value.trim());
      if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw bad('must be an integer');
      return n;
    }
    case 'boolean': {
      const b = BOOLEANS.get(value.trim().toLowerCase());
      if (b === undefined) throw bad(`must be one of ${[...BOOLEANS.keys()].join(', ')}`);
      return b;
    }
    case 'list':
      return value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    case 'apps': {
      const parsed = parseJson(value);
      if (!parsed.ok) {
        throw new ConfigError(name, `Invalid environment: ${name} is not valid JSON: ${parsed.error}`, {
          cause: parsed.cause,
        });
      }
      if (!Array.isArray(parsed.value))
        throw new ConfigError(name, `Invalid environment: ${name} must be a JSON array of apps`);
      return parsed.value;
    }
  }
}

const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
  ['yes', true],
  ['no', false],
]);

function setIn(target: Raw, path: readonly (string | number)[], value: unknown): void {
  let node: Record<string | number, unknown> = target;
  path.forEach((segment, i) => {
    if (i === path.length - 1) {
      node[segment] = value;
      return;
    }
    node[segment] ??= typeof path[i + 1] === 'number' ? [] : {};
    node = node[segment] as Record<string | number, unknown>;
  });
}

export function pathString(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, segment) => join(acc, segment), '');
}

function within(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(`${ancestor}.`) || path.startsWith(`${ancestor}[`);
}

/**
 * How the apps of configFromEnv(env) combine with the config file's:
 * - `replace`: the environment defines its apps (WIREMESH_APPS_JSON, or an app id, key or
 *   secret) and they replace the file's;
 * - `settings`: it only sets app settings (`variables`), which apply to the default app;
 * - undefined: it says nothing about apps.
 */
export function envAppsMode(
  env: NodeJS.ProcessEnv,
): { mode: 'replace' } | { mode: 'settings'; variables: string[] } | undefined {
  if (lookup(env, [APPS_JSON]) !== undefined) return { mode: 'replace' };
  const set = APP_VARIABLES.flatMap((x) => {
    const found = lookup(env, x.names);
    return found ? [{ variable: x, name: found.name }] : [];
  });
  if (set.length === 0) return undefined;
  if (
    set.some(
      ({ variable }) => variable.path.length === 3 && ['id', 'key', 'secret'].includes(variable.path[2] as string),
    )
  ) {
    return { mode: 'replace' };
  }
  return { mode: 'settings', variables: set.map(({ name }) => name) };
}
