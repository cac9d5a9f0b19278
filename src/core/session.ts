/**
 * What one client may do on its connection: ping, subscribe, unsubscribe, sign in, send client
 * events. Every refusal is a PusherError, counted in `fail` and framed by core/refusal.ts.
 */
import { ErrorCodes, PusherError, fatalError } from '../errors.js';
import type { Refusals } from '../limits/refusals.js';
import { allowsClientEvents, channelKind } from '../protocol/channels.js';
import * as frames from '../protocol/frames.js';
import { verifyUserAuth } from '../protocol/signature.js';
import type { Logger } from '../log/logger.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { Connection } from './connection.js';
import { asRefusal, sendRefusal } from './refusal.js';
import type { WebhookSink } from './effects.js';
import type { Subscriptions } from './subscriptions.js';

/**
 * Handles wiremesh's own events on a connection (`wiremesh:*`), registered once in the
 * composition root (the Livewire tunnel is one). Refusals are thrown as PusherError.
 */
export interface ExtensionHandler {
  handle(conn: Connection, event: string, data: unknown): void;
  /** The connection closed: cancel whatever it still has in flight. */
  closed(conn: Connection): void;
  /**
   * Whether this frame is counted by the handler's own rate budget instead of the connection's
   * frame budget (`limits.maxFramesPerSecond`): true while `event` has a budget of its own with
   * room left. A frame over it returns false, counts as any frame, and is answered by the handler
   * within its protocol (the tunnel: a fallback to HTTP) instead of closing the socket.
   */
  ownsRate?(conn: Connection, event: string, now: number): boolean;
}

/** Where a client event goes: every subscriber of the topic on every node, except the sender. */
export interface ClientEventRoute {
  publishFromClient(conn: Connection, topic: string, frame: string): void;
  /** A user signed in on `conn`: record it (users topic, watchlists, registry). */
  signedIn(conn: Connection): void;
}

export class Session {
  constructor(
    private readonly deps: {
      subscriptions: Subscriptions;
      route: ClientEventRoute;
      extensions?: ExtensionHandler;
      webhooks: WebhookSink;
      metrics: ServerMetrics;
      logger: Logger;
      refusals: Refusals;
      /** Inbound frames per connection: sustained rate and bucket size (0 = no limit). */
      frames: { perSecond: number; burst: number };
      now: () => number;
    },
  ) {}

  handle(conn: Connection, text: string): void {
    const now = this.deps.now();
    this.deps.metrics.messagesIn.inc({ app: conn.app.id });
    this.deps.metrics.bytesIn.inc({ app: conn.app.id }, text.length);
    if (conn.rateRefused) return;
    let f: frames.ClientFrame;
    try {
      f = frames.parseClientFrame(text);
    } catch (err) {
      if (this.takeFrame(conn, now)) this.fail(conn, err);
      return;
    }
    const owned = f.kind === 'extension' && this.deps.extensions?.ownsRate?.(conn, f.event, now) === true;
    if (!owned && !this.takeFrame(conn, now)) return;
    conn.lastActivity = now;
    conn.pingSentAt = 0;
    let channel: string | undefined;
    try {
      switch (f.kind) {
        case 'ping':
          conn.socket.send(frames.pong());
          return;
        case 'pong':
          return;
        case 'subscribe':
          if (typeof f.channel !== 'string')
            throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'pusher:subscribe needs a channel');
          channel = f.channel;
          this.deps.subscriptions.subscribe(conn, f.channel, f.auth, f.channelData, f.resume);
          return;
        case 'unsubscribe':
          if (typeof f.channel !== 'string')
            throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'pusher:unsubscribe needs a channel');
          this.deps.subscriptions.unsubscribe(conn, f.channel);
          return;
        case 'signin':
          this.signin(conn, f.auth, f.userData);
          return;
        case 'client-event':
          this.clientEvent(conn, f.event, f.channel, f.data);
          return;
        case 'extension':
          if (!this.deps.extensions)
            throw new PusherError(ErrorCodes.INVALID_MESSAGE, `Unknown event: ${f.event.slice(0, 64)}`);
          this.deps.extensions.handle(conn, f.event, f.data);
          return;
      }
    } catch (err) {
      this.fail(conn, err, channel);
    }
  }

  /** A token of the connection's frame budget; false (and the connection refused, once) when it is empty. */
  private takeFrame(conn: Connection, now: number): boolean {
    const { perSecond, burst } = this.deps.frames;
    const token = conn.takeFrameToken(now, perSecond, burst);
    if (token === 'over') this.tooFast(conn);
    return token === 'ok';
  }

  /** A refusal on a connection: counted, then framed (and, if fatal, closed) by core/refusal.ts. */
  fail(conn: Connection, err: unknown, channel?: string): void {
    const e = asRefusal(err, this.deps.logger, { appId: conn.app.id, socketId: conn.socketId });
    this.deps.metrics.protocolErrors.inc({ app: conn.app.id, code: String(e.code) });
    sendRefusal(conn.socket, e, channel);
  }

  /** Over the inbound frame rate: closed with 4301, like Pusher's rate limit; later frames are dropped. */
  private tooFast(conn: Connection): void {
    const { perSecond, burst } = this.deps.frames;
    this.deps.refusals.refused(
      'frames_per_second',
      conn.socket.remoteAddress,
      'closed a connection sending too many frames',
      {
        appId: conn.app.id,
        socketId: conn.socketId,
        perSecond,
        burst,
      },
    );
    this.fail(
      conn,
      fatalError(
        ErrorCodes.CLIENT_EVENT_RATE_LIMIT,
        `Too many messages: at most ${perSecond} per second (bursts of ${burst})`,
      ),
    );
  }

  private signin(conn: Connection, auth: unknown, userData: unknown): void {
    if (!conn.app.userAuthentication) {
      throw new PusherError(ErrorCodes.UNAUTHORIZED, 'User authentication is not enabled for this app');
    }
    if (
      typeof auth !== 'string' ||
      typeof userData !== 'string' ||
      !verifyUserAuth(conn.app, auth, conn.socketId, userData)
    ) {
      throw new PusherError(
        ErrorCodes.UNAUTHORIZED,
        'Invalid signature: pusher:signin auth does not match this socket',
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(userData);
    } catch (err) {
      throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'user_data is not valid JSON', { cause: err });
    }
    const { id, watchlist } = (parsed ?? {}) as Record<string, unknown>;
    if ((typeof id !== 'string' || id === '') && typeof id !== 'number') {
      throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'user_data must contain an id');
    }
    const userId = String(id);
    if (conn.user) {
      if (conn.user.id !== userId)
        throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'This connection is already signed in as another user');
      conn.socket.send(frames.signinSuccess(userData));
      return;
    }
    // Only string and number ids: String() throws on an object such as {"toString":1}.
    const ids = Array.isArray(watchlist)
      ? watchlist.slice(0, 100).filter((w) => typeof w === 'string' || typeof w === 'number')
      : [];
    const list = ids.map(String);
    conn.user = { id: userId, data: userData, watchlist: list };
    conn.signinDeadline = 0;
    conn.socket.send(frames.signinSuccess(userData));
    this.deps.route.signedIn(conn);
  }

  private clientEvent(conn: Connection, event: string, channel: unknown, data: unknown): void {
    const app = conn.app;
    if (!app.clientEvents) throw new PusherError(null, 'Client events are not enabled for this app');
    if (typeof channel !== 'string') throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'Client event needs a channel');
    const sub = conn.subscription(channel);
    if (!sub) throw new PusherError(null, `Client event rejected: not subscribed to ${channel.slice(0, 200)}`);
    if (!allowsClientEvents(channelKind(channel))) {
      throw new PusherError(
        null,
        'Client events are only allowed on private and presence channels (not encrypted ones)',
      );
    }
    if (event.length > app.maxEventNameLength) {
      throw new PusherError(
        ErrorCodes.INVALID_MESSAGE,
        `Event name is longer than ${app.maxEventNameLength} characters`,
      );
    }
    if (!conn.takeClientEventToken(this.deps.now())) {
      throw new PusherError(
        ErrorCodes.CLIENT_EVENT_RATE_LIMIT,
        `Client event rejected: at most ${app.maxClientEventsPerSecond} client events per second`,
      );
    }
    const frame = frames.channelEvent(event, channel, data, sub.userId);
    // In bytes (as sent): a multi-byte character counts as 2 to 4, not as one UTF-16 unit.
    const size = Buffer.byteLength(frame);
    if (size > app.maxEventPayloadBytes) {
      throw new PusherError(
        ErrorCodes.MESSAGE_TOO_LARGE,
        `Client event is larger than ${app.maxEventPayloadBytes} bytes`,
      );
    }
    this.deps.route.publishFromClient(conn, sub.topic, frame);
    if (this.deps.webhooks.wants(app, 'client_event')) {
      const payload = typeof data === 'string' ? data : JSON.stringify(data ?? null);
      this.deps.webhooks.emit(app, {
        name: 'client_event',
        channel,
        event,
        data: payload,
        socket_id: conn.socketId,
        ...(sub.userId !== undefined ? { user_id: sub.userId } : {}),
      });
    }
  }
}
