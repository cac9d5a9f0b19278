/**
 * The single-node core: accepts connections, keeps the local registry, delivers to its own
 * sockets, and hands anything for other nodes to the cluster link. It implements the inbound side
 * of the cluster seam (`ClusterInbound`) and the narrow interfaces the HTTP API uses.
 */
import type { AppConfig, Config } from '../config/schema.js';
import type { ClusterInbound, ClusterLink, UserCommand } from '../cluster/types.js';
import { ErrorCodes, PusherError, fatalError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { Change } from '../presence/state.js';
import { channelKind, isCacheChannel } from '../protocol/channels.js';
import * as frames from '../protocol/frames.js';
import type { SocketHandler, Transport, UpgradeInfo, WsSocket } from '../transport/types.js';
import type { AppDirectory } from '../apps/directory.js';
import { ChannelCache } from './cache.js';
import { Connection, makeSocketIdFactory, type ConnectionEvents } from './connection.js';
import { TransitionEffects, type WebhookSink } from './effects.js';
import type { PresenceService } from './presence-service.js';
import { LocalRegistry } from './registry.js';
import { Session, type ExtensionHandler } from './session.js';
import { Subscriptions } from './subscriptions.js';
import { queryParam } from './query.js';
import { parseTopic, topicOf, usersTopic } from './topics.js';
import type { ChannelQueries, ChannelSnapshot, EventPublisher } from './types.js';
import { Watchlists } from './watchlist.js';
import { closeCodeLabel } from '../metrics/labels.js';

export type CoreConfig = Pick<Config, 'activityTimeout' | 'pongTimeoutMs' | 'limits'>;

export type Delivery = Pick<Transport, 'publish' | 'topicSize'>;

const APP_PATH = /^\/app\/([^/?]+)\/?$/;
const NOOP_HANDLER: SocketHandler = { onMessage() {}, onClose() {} };

export class Core implements ClusterInbound, ChannelQueries, EventPublisher {
  readonly registry = new LocalRegistry();
  private readonly watchlists = new Watchlists();
  private readonly cache = new ChannelCache();
  private readonly effects: TransitionEffects;
  private readonly subscriptions: Subscriptions;
  private readonly session: Session;
  private readonly nextSocketId = makeSocketIdFactory();
  /** Shared by every connection (no closures per socket). */
  private readonly connectionEvents: ConnectionEvents = {
    message: (conn, text) => this.session.handle(conn, text),
    closed: (conn, code) => this.closed(conn, code),
  };
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private draining = false;

  constructor(
    private readonly deps: {
      config: CoreConfig;
      apps: AppDirectory;
      delivery: Delivery;
      presence: PresenceService;
      link: ClusterLink;
      webhooks: WebhookSink;
      metrics: ServerMetrics;
      logger: Logger;
      /** wiremesh:* events (the Livewire tunnel); optional. */
      extensions?: ExtensionHandler & { wantsHandshake(app: AppConfig): boolean };
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
    this.effects = new TransitionEffects({
      delivery: deps.delivery,
      link: deps.link,
      webhooks: deps.webhooks,
      watchlists: this.watchlists,
      appById: (id) => deps.apps.byId(id),
      metrics: deps.metrics,
    });
    this.subscriptions = new Subscriptions({
      presence: deps.presence,
      effects: this.effects,
      link: deps.link,
      sizes: deps.delivery,
      cache: this.cache,
      webhooks: deps.webhooks,
      maxChannelNameLength: deps.config.limits.maxChannelNameLength,
    });
    this.session = new Session({
      subscriptions: this.subscriptions,
      route: {
        publishFromClient: (conn, topic, frame) => this.deliverAndForward(conn.app.id, topic, frame, conn.socket, conn.socketId),
        signedIn: (conn) => this.signedIn(conn),
      },
      webhooks: deps.webhooks,
      metrics: deps.metrics,
      logger: deps.logger,
      now: this.now,
      ...(deps.extensions ? { extensions: deps.extensions } : {}),
    });
    deps.metrics.connections.collect((set) => {
      for (const appId of this.registry.appIds()) set({ app: appId }, this.registry.appConnections(appId));
    });
  }

  start(): void {
    // Often enough for the shortest sign-in deadline too, not only for the activity timeout.
    const signin = this.deps.apps.all().flatMap((a) => (a.signinTimeoutMs > 0 ? [a.signinTimeoutMs / 2] : []));
    const period = Math.max(250, Math.min(5_000, (this.deps.config.activityTimeout * 1000) / 4, ...signin));
    this.sweepTimer = setInterval(() => this.sweep(), period);
    this.sweepTimer.unref();
  }

  // --------------------------------------------------------------------------------------------
  // Connections

  /** TransportHooks.openSocket */
  open(socket: WsSocket, info: UpgradeInfo): SocketHandler {
    let app: AppConfig;
    try {
      app = this.admit(info);
    } catch (err) {
      const e = err as PusherError;
      socket.send(frames.errorFrame(e));
      socket.close(e.code ?? ErrorCodes.INVALID_MESSAGE, e.message);
      return NOOP_HANDLER;
    }
    const now = this.now();
    const conn = new Connection(this.nextSocketId(), app, socket, now, this.connectionEvents);
    if (app.userAuthentication && app.signinTimeoutMs > 0) conn.signinDeadline = now + app.signinTimeoutMs;
    // A copy: the transport may work out some fields (the client address) only when asked.
    if (this.deps.extensions?.wantsHandshake(app)) conn.handshake = { path: info.path, query: info.query, headers: info.headers, remoteAddress: info.remoteAddress };
    this.registry.add(conn);
    this.deps.metrics.connectionsTotal.inc({ app: app.id });
    socket.send(frames.connectionEstablished(conn.socketId, this.deps.config.activityTimeout));
    return conn;
  }

  private admit(info: UpgradeInfo): AppConfig {
    if (this.draining) throw fatalError(ErrorCodes.RECONNECT, 'Server is restarting, please reconnect');
    const m = APP_PATH.exec(info.path);
    if (!m) throw fatalError(ErrorCodes.PATH_NOT_FOUND, `Path not found: ${info.path.slice(0, 100)} (expected /app/{key})`);
    const protocol = queryParam(info.query, 'protocol');
    if (protocol === null) throw fatalError(ErrorCodes.NO_PROTOCOL, 'No protocol version supplied');
    const version = Number(protocol);
    if (!Number.isInteger(version)) throw fatalError(ErrorCodes.INVALID_VERSION, `Invalid protocol version: ${protocol.slice(0, 20)}`);
    if (version < 5 || version > 7) throw fatalError(ErrorCodes.UNSUPPORTED_PROTOCOL, `Unsupported protocol version: ${version}`);
    const app = this.deps.apps.byKey(decodeURIComponent(m[1] as string));
    if (!app) throw fatalError(ErrorCodes.APP_NOT_FOUND, 'App key not found');
    if (!app.enabled) throw fatalError(ErrorCodes.APP_DISABLED, 'App is disabled');
    if (app.maxConnections > 0) {
      const total = this.registry.appConnections(app.id) + this.deps.link.remoteConnections(app.id);
      if (total >= app.maxConnections) {
        throw fatalError(ErrorCodes.OVER_CONNECTION_QUOTA, `Over connection quota: at most ${app.maxConnections} connections`);
      }
    }
    return app;
  }

  private closed(conn: Connection, code: number): void {
    if (conn.closed) return;
    conn.closed = true;
    this.deps.extensions?.closed(conn);
    this.deps.metrics.disconnectionsTotal.inc({ app: conn.app.id, code: closeCodeLabel(code) });
    if (this.draining && this.deps.link.handsOffPresence) {
      // Graceful leave in a cluster: the other nodes keep this node's entries for the hand-off
      // period, so users reconnecting elsewhere neither leave nor rejoin.
      this.watchlists.remove(conn);
      this.registry.remove(conn);
      return;
    }
    this.subscriptions.leaveAll(conn);
    if (conn.user) {
      this.watchlists.remove(conn);
      this.effects.apply(this.deps.presence.leave(usersTopic(conn.app.id), conn.socketId));
    }
    this.registry.remove(conn);
  }

  private signedIn(conn: Connection): void {
    const user = conn.user!;
    this.registry.addUser(conn, user.id);
    this.effects.apply(this.deps.presence.join(usersTopic(conn.app.id), user.id, conn.socketId, undefined));
    if (user.watchlist.length === 0) return;
    this.watchlists.add(conn, user.watchlist);
    const topic = usersTopic(conn.app.id);
    const online = user.watchlist.filter((id) => this.deps.presence.view.hasMember(topic, id));
    const offline = user.watchlist.filter((id) => !this.deps.presence.view.hasMember(topic, id));
    const events: frames.WatchlistEvent[] = [];
    if (online.length) events.push({ name: 'online', user_ids: online });
    if (offline.length) events.push({ name: 'offline', user_ids: offline });
    conn.socket.send(frames.watchlistEvents(events));
  }

  /** Pings idle clients, closes those that never answered, enforces the sign-in deadline. */
  private sweep(): void {
    const now = this.now();
    const idleMs = this.deps.config.activityTimeout * 1000;
    for (const conn of this.registry.connections()) {
      if (conn.pingSentAt > 0) {
        if (now - conn.pingSentAt > this.deps.config.pongTimeoutMs) {
          this.session.fail(conn, fatalError(ErrorCodes.PONG_NOT_RECEIVED, 'Pong reply not received in time'));
        }
      } else if (now - conn.lastActivity > idleMs) {
        conn.pingSentAt = now;
        conn.socket.send(frames.ping());
      }
      if (conn.signinDeadline > 0 && now > conn.signinDeadline) {
        conn.signinDeadline = 0;
        this.session.fail(conn, fatalError(ErrorCodes.UNAUTHORIZED, 'Connection not signed in within the allowed time'));
      }
    }
    this.cache.sweep();
  }

  // --------------------------------------------------------------------------------------------
  // Delivery

  private deliverLocal(appId: string, topic: string, frame: string, except?: WsSocket): void {
    const n = this.deps.delivery.publish(topic, frame, except);
    if (n > 0) {
      this.deps.metrics.messagesOut.inc({ app: appId }, n);
      this.deps.metrics.bytesOut.inc({ app: appId }, n * frame.length);
    }
  }

  private deliverAndForward(appId: string, topic: string, frame: string, except: WsSocket | undefined, exceptSocketId?: string): void {
    this.deliverLocal(appId, topic, frame, except);
    this.deps.link.forward(topic, frame, exceptSocketId);
  }

  publish(app: AppConfig, channel: string, event: string, data: unknown, exceptSocketId?: string): void {
    const topic = topicOf(app.id, channel);
    const frame = frames.channelEvent(event, channel, data);
    if (isCacheChannel(channel)) {
      this.cache.set(topic, frame);
      this.deps.link.cache(topic, frame);
    }
    const except = exceptSocketId === undefined ? undefined : this.registry.get(exceptSocketId)?.socket;
    this.deliverAndForward(app.id, topic, frame, except, exceptSocketId);
  }

  terminateUser(app: AppConfig, userId: string): void {
    this.userCommand(app.id, userId, { type: 'terminate' });
    this.deps.link.userCommand(app.id, userId, { type: 'terminate' });
  }

  // --------------------------------------------------------------------------------------------
  // ClusterInbound

  deliver(topic: string, frame: string, exceptSocketId?: string): void {
    const except = exceptSocketId === undefined ? undefined : this.registry.get(exceptSocketId)?.socket;
    this.deliverLocal(parseTopic(topic).appId, topic, frame, except);
  }

  cacheStored(topic: string, frame: string): void {
    this.cache.set(topic, frame);
  }

  userCommand(appId: string, userId: string, command: UserCommand): void {
    if (command.type !== 'terminate') return;
    for (const conn of this.registry.userConnections(appId, userId)) {
      this.session.fail(conn, fatalError(ErrorCodes.UNAUTHORIZED, 'Connection terminated by the app'));
    }
  }

  presenceChanged(changes: Change[]): void {
    this.effects.apply(this.deps.presence.apply(changes));
  }

  // --------------------------------------------------------------------------------------------
  // ChannelQueries (cluster-wide, from the replicated state this node holds)

  channels(appId: string, prefix: string) {
    const out: Array<{ name: string; subscriptionCount: number; userCount: number }> = [];
    const view = this.deps.presence.view;
    for (const topic of view.topics()) {
      const { appId: a, channel } = parseTopic(topic);
      if (a !== appId || channel === '#users' || channel.startsWith('#') || !channel.startsWith(prefix)) continue;
      out.push({ name: channel, subscriptionCount: view.subscriptionCount(topic), userCount: view.userCount(topic) });
    }
    return out;
  }

  channel(appId: string, channel: string): ChannelSnapshot {
    const topic = topicOf(appId, channel);
    const view = this.deps.presence.view;
    const subscriptionCount = view.subscriptionCount(topic);
    const snap: ChannelSnapshot = { occupied: subscriptionCount > 0, subscriptionCount };
    if (channelKind(channel) === 'presence') snap.userCount = view.userCount(topic);
    return snap;
  }

  users(appId: string, channel: string): string[] {
    return [...this.deps.presence.view.members(topicOf(appId, channel)).keys()];
  }

  // --------------------------------------------------------------------------------------------
  // Shutdown

  /**
   * Asks every client to reconnect (4200), spread over `spreadMs` so they do not all reconnect to
   * the remaining nodes at once, then waits (up to `deadlineMs` in total) for them to go.
   */
  async drain(spreadMs: number, deadlineMs: number): Promise<void> {
    this.draining = true;
    const conns = [...this.registry.connections()];
    const started = this.now();
    const slices = Math.max(1, Math.min(20, conns.length));
    const per = Math.ceil(conns.length / slices);
    for (let i = 0; i < slices; i++) {
      for (const conn of conns.slice(i * per, (i + 1) * per)) {
        this.session.fail(conn, fatalError(ErrorCodes.RECONNECT, 'Server is shutting down, please reconnect'));
      }
      if (i < slices - 1) await sleep(spreadMs / slices);
    }
    while (this.registry.size() > 0 && this.now() - started < deadlineMs) await sleep(50);
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
