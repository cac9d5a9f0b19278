/**
 * The state wiremesh keeps for one client connection. Owned by the core; the transport's socket is
 * held, never extended. Thousands of these sit idle on a node, so the object stays small: no
 * per-connection closures (the connection itself is the socket's handler and reports to one shared
 * `ClientConnectionEvents`), no Map for the common single subscription, no client-event token bucket
 * until the client sends its first client event (the inbound frame bucket is two numbers).
 */
import { randomInt } from 'node:crypto';
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
  /** Inbound frame token bucket (every frame); -Infinity once the connection was refused for its rate. */
  private frameTokens: number;
  private frameAt: number;

  constructor(
    readonly socketId: string,
    readonly app: AppConfig,
    readonly socket: WsSocket,
    now: number,
    private readonly events: ClientConnectionEvents,
    frameBurst = 0,
  ) {
    this.lastActivity = now;
    this.frameTokens = frameBurst;
    this.frameAt = now;
  }

  /**
   * Takes a token for one inbound frame: `rate` per second, at most `burst` at once. 'over' the
   * first time the bucket is empty (the caller refuses the connection), 'refused' for every frame
   * after that (dropped while the close completes).
   */
  takeFrameToken(now: number, rate: number, burst: number): 'ok' | 'over' | 'refused' {
    if (rate <= 0) return 'ok';
    if (this.frameTokens === -Infinity) return 'refused';
    const tokens = Math.min(burst, this.frameTokens + ((now - this.frameAt) / 1000) * rate);
    this.frameAt = now;
    if (tokens < 1) {
      this.frameTokens = -Infinity;
      return 'over';
    }
    this.frameTokens = tokens - 1;
    return 'ok';
  }

  /** Refused for its frame rate: its close is under way, and its frames are dropped. */
  get rateRefused(): boolean {
    return this.frameTokens === -Infinity;
  }

  /** Channels subscribed now. */
  subscriptionCount(): number {
    const s = this.subs;
    return s === null ? 0 : s instanceof Map ? s.size : 1;
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
    else
      this.subs = new Map([
        [s.channel, s],
        [sub.channel, sub],
      ]);
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

const ID_PART_MAX = 2 ** 31;

/**
 * Pusher socket ids: two integers joined by a dot (`\d+\.\d+`, as Laravel validates), both random
 * (crypto), so one id tells nothing about another socket's (`X-Socket-ID` excludes a socket from
 * a broadcast) nor how many connections a node accepted.
 */
export function randomSocketId(): string {
  return `${randomInt(1, ID_PART_MAX)}.${randomInt(1, ID_PART_MAX)}`;
}
