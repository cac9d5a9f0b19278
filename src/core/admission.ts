/**
 * Whether a WebSocket handshake may become a connection, and for which app: path, protocol
 * version, app key, app state, the app's connection quota. Refusals are fatal PusherErrors with
 * Pusher's close codes, thrown before any per-connection state exists.
 */
import type { AppDirectory } from '../apps/directory.js';
import type { AppConfig } from '../config/schema.js';
import { ErrorCodes, fatalError } from '../errors.js';
import type { UpgradeInfo } from '../transport/types.js';
import { queryParam } from './query.js';

const APP_PATH = /^\/app\/([^/?]+)\/?$/;

export interface AdmissionDeps {
  apps: AppDirectory;
  /** Connections of an app on this node and on the others. */
  connections: (appId: string) => number;
  /** True while the node drains for shutdown: every new connection is asked to go elsewhere. */
  draining: () => boolean;
}

export function admit(info: UpgradeInfo, deps: AdmissionDeps): AppConfig {
  if (deps.draining()) throw fatalError(ErrorCodes.RECONNECT, 'Server is restarting, please reconnect');
  const m = APP_PATH.exec(info.path);
  if (!m)
    throw fatalError(ErrorCodes.PATH_NOT_FOUND, `Path not found: ${info.path.slice(0, 100)} (expected /app/{key})`);
  const protocol = queryParam(info.query, 'protocol');
  if (protocol === null) throw fatalError(ErrorCodes.NO_PROTOCOL, 'No protocol version supplied');
  const version = Number(protocol);
  if (!Number.isInteger(version))
    throw fatalError(ErrorCodes.INVALID_VERSION, `Invalid protocol version: ${protocol.slice(0, 20)}`);
  if (version < 5 || version > 7)
    throw fatalError(ErrorCodes.UNSUPPORTED_PROTOCOL, `Unsupported protocol version: ${version}`);
  const key = decodeKey(m[1] as string);
  const app = key === null ? undefined : deps.apps.byKey(key);
  if (!app) throw fatalError(ErrorCodes.APP_NOT_FOUND, 'App key not found');
  if (!app.enabled) throw fatalError(ErrorCodes.APP_DISABLED, 'App is disabled');
  if (app.maxConnections > 0 && deps.connections(app.id) >= app.maxConnections) {
    throw fatalError(
      ErrorCodes.OVER_CONNECTION_QUOTA,
      `Over connection quota: at most ${app.maxConnections} connections`,
    );
  }
  return app;
}

/** The percent-decoded key, or null if it is not valid percent-encoded UTF-8 (no such app). */
function decodeKey(raw: string): string | null {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}
