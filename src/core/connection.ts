/**
 * The state wiremesh keeps for one client connection. Owned by the core; the transport's socket is
 * held, never extended.
 */
import type { AppConfig } from '../config/schema.js';
import type { UpgradeInfo, WsSocket } from '../transport/types.js';

export interface SignedInUser {
  id: string;
  /** The `user_data` string as signed. */
  data: string;
  watchlist: string[];
}

export interface Subscription {
  channel: string;
  topic: string;
  /** Presence channels: the member's user id. */
  userId?: string;
}

export class Connection {
  readonly channels = new Map<string, Subscription>();
  user: SignedInUser | null = null;
  /** Last time (ms) anything arrived from the client. */
  lastActivity: number;
  /** When the server pinged and still waits for the pong (0 = not waiting). */
  pingSentAt = 0;
  /** Deadline (ms) for `pusher:signin`, 0 = none. */
  signinDeadline = 0;
  closed = false;
  /** The WebSocket handshake (headers, client address); kept only for apps that need it (the tunnel). */
  handshake: UpgradeInfo | null = null;
  private tokens: number;
  private tokensAt: number;

  constructor(
    readonly socketId: string,
    readonly app: AppConfig,
    readonly socket: WsSocket,
    now: number,
  ) {
    this.lastActivity = now;
    this.tokens = app.maxClientEventsPerSecond;
    this.tokensAt = now;
  }

  /** Token bucket for client events: `maxClientEventsPerSecond` per second, bursts up to that many. */
  takeClientEventToken(now: number): boolean {
    const rate = this.app.maxClientEventsPerSecond;
    if (rate <= 0) return true;
    this.tokens = Math.min(rate, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Pusher socket ids: two integers joined by a dot. */
export function makeSocketIdFactory(): () => string {
  const prefix = Math.floor(Math.random() * 1e9);
  let n = 0;
  return () => `${prefix}.${++n}`;
}
