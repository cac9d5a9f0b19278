/**
 * The periodic pass over this node's connections: pings idle clients, closes those that never
 * answered, enforces the sign-in deadline, expires cached channel events.
 */
import type { AppConfig, Config } from '../config/schema.js';
import { ErrorCodes, fatalError, type PusherError } from '../errors.js';
import * as frames from '../protocol/frames.js';
import type { ChannelCache } from './cache.js';
import type { Connection } from './connection.js';
import type { LocalRegistry } from './registry.js';

export class Sweeper {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: {
      config: Pick<Config, 'activityTimeout' | 'pongTimeoutMs'>;
      registry: LocalRegistry;
      cache: ChannelCache;
      /** Ends a connection with a refusal (the session's one way of doing so). */
      fail: (conn: Connection, err: PusherError) => void;
      now: () => number;
    },
  ) {}

  /** Often enough for the activity timeout and for the shortest sign-in deadline of `apps`. */
  start(apps: readonly AppConfig[]): void {
    const signin = apps.flatMap((a) => (a.signinTimeoutMs > 0 ? [a.signinTimeoutMs / 2] : []));
    const period = Math.max(250, Math.min(5_000, (this.deps.config.activityTimeout * 1000) / 4, ...signin));
    this.timer = setInterval(() => this.sweep(), period);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sweep(): void {
    const { config, registry, fail } = this.deps;
    const now = this.deps.now();
    const idleMs = config.activityTimeout * 1000;
    for (const conn of registry.connections()) {
      if (conn.pingSentAt > 0) {
        if (now - conn.pingSentAt > config.pongTimeoutMs) {
          fail(conn, fatalError(ErrorCodes.PONG_NOT_RECEIVED, 'Pong reply not received in time'));
        }
      } else if (now - conn.lastActivity > idleMs) {
        conn.pingSentAt = now;
        conn.socket.send(frames.ping());
      }
      if (conn.signinDeadline > 0 && now > conn.signinDeadline) {
        conn.signinDeadline = 0;
        fail(conn, fatalError(ErrorCodes.UNAUTHORIZED, 'Connection not signed in within the allowed time'));
      }
    }
    this.deps.cache.sweep();
  }
}
