/**
 * The state wiremesh keeps for one client connection. Owned by the core; the transport's socket is
 * held, never extended. Thousands of these sit idle on a node, so the object stays small: no
 * per-connection closures (the connection itself is the socket's handler and reports to one shared
 * `ClientConnectionEvents`), no Map for the common single subscription, no token bucket until the
 * client sends its first client event.
 */
import type { AppConfig } from '../config/schema.js';
import type { SocketHandler, UpgradeInfo, WsSocket } from '../transport/types.js';

export interface SignedInUser {
  id: string;
  /** The `user_data` string as signed. */
  data: string;
  watchlist: string[];
}

/** Immutable: connections on one public or private channel share one (see Subscriptions). */
export interface Subscription {
  readonly channel: string;
  readonly topic: string;
  /** Presence channels: the member's user id. */
  readonly userId?: string;
}

/** Where every connection reports what its socket does; one instance for all connections. */
export interface ClientConnectionEvents {
  message(conn: Connection, text: string): void;
  closed(conn: Connection, code: number): void;
}

/** Client-event token bucket, allocated on a connection's first client event. */
interface Bucket {
  tokens: number;
  at: number;
}

export class Connection implements SocketHandler {
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
  /** Subscribed channels: none, one, or (from the second on) a Map channel → subscription. */
  private subs: Subscription | Map<string, Subscription> | null = null;
  private bucket: Bucket | null = null;

  constructor(
    readonly socketId: string,
    readonly app: AppConfig,
    readonly socket: WsSocket,
    now: number,
    private readonly events: ClientConnectionEvents,
  ) {
    this.lastActivity = now;
  }

  /** SocketHandler: the transport hands over a text frame. */
  onMessage(text: string): void {
    this.events.message(this, text);
  }

  /** SocketHandler: the socket closed. */
  onClose(code: number): void {
    this.events.closed(this, code);
  }

  subscription(channel: string): Subscription | undefined {
    const s = this.subs;
    if (s === null) return undefined;
    if (s instanceof Map) return s.get(channel);
    return s.channel === channel ? s : undefined;
  }

  /** Records a subscription to a channel not yet subscribed. */
  addSubscription(sub: Subscription): void {
    const s = this.subs;
    if (s === null) this.subs = sub;
    else if (s instanceof Map) s.set(sub.channel, sub);
    else this.subs = new Map([[s.channel, s], [sub.channel, sub]]);
  }

  /** Forgets the subscription to `channel` and returns it, if there was one. */
  removeSubscription(channel: string): Subscription | undefined {
    const s = this.subs;
    if (s === null) return undefined;
    if (s instanceof Map) {
      const sub = s.get(channel);
      if (sub !== undefined) s.delete(channel);
      return sub;
    }
    if (s.channel !== channel) return undefined;
    this.subs = null;
    return s;
  }

  /** Forgets every subscription and returns them. */
  takeSubscriptions(): Subscription[] {
    const s = this.subs;
    this.subs = null;
    if (s === null) return [];
    return s instanceof Map ? [...s.values()] : [s];
  }

  /** Token bucket for client events: `maxClientEventsPerSecond` per second, bursts up to that many. */
  takeClientEventToken(now: number): boolean {
    const rate = this.app.maxClientEventsPerSecond;
    if (rate <= 0) return true;
    // A bucket created now is full, as it would be had it been filled since the connection opened.
    const b = (this.bucket ??= { tokens: rate, at: now });
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** Pusher socket ids: two integers joined by a dot. */
export function makeSocketIdFactory(): () => string {
  const prefix = Math.floor(Math.random() * 1e9);
  let n = 0;
  return () => `${prefix}.${++n}`;
}
