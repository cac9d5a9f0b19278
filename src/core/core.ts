/**
 * The single-node core: turns admitted handshakes into connections, runs their lifecycle (open,
 * sign-in, close, drain), publishes to channels through its ChannelStreams port (core/streams.ts),
 * and takes in what other nodes send (`CoreInbound`, core/cluster.ts). Delivery, admission,
 * queries, sweeping and subscriptions live in their own files; presence state is owned by the
 * presence service.
 */
import type { AppDirectory } from '../apps/directory.js';
import type { ClusterLink } from '../cluster/types.js';
import type { AppConfig, Config } from '../config/schema.js';
import { ErrorCodes, fatalError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { PresenceService } from '../presence/service.js';
import { isCacheChannel } from '../protocol/channels.js';
import * as frames from '../protocol/frames.js';
import type { SocketHandler, UpgradeInfo, WsSocket } from '../transport/types.js';
import { admit } from './admission.js';
import type { ChannelCache } from './cache.js';
import type { CoreInbound, PeerCommands, UserCommand } from './cluster.js';
import { Connection, randomSocketId, type ClientConnectionEvents } from './connection.js';
import type { LocalDelivery } from './delivery.js';
import type { WebhookSink } from './effects.js';
import { asRefusal, sendRefusal } from './refusal.js';
import type { LocalRegistry } from './registry.js';
import { Session, type ExtensionHandler } from './session.js';
import type { ChannelStreams } from './streams.js';
import { Subscriptions } from './subscriptions.js';
import { Sweeper } from './sweeper.js';
import { parseTopic, topicOf, usersTopic } from './topics.js';
import type { EventPublisher } from './types.js';
import type { Watchlists } from './watchlist.js';
import type { ConnectionLimits } from '../limits/connection-limits.js';
import type { Refusals } from '../limits/refusals.js';
import { closeCodeLabel } from '../metrics/labels.js';

export type CoreConfig = Pick<Config, 'activityTimeout' | 'pongTimeoutMs' | 'limits'>;

/** wiremesh:* events (the Livewire tunnel), and whether an app's connections need their handshake kept. */
export type CoreExtensions = ExtensionHandler & { wantsHandshake(app: AppConfig): boolean };

const NOOP_HANDLER: SocketHandler = { onMessage() {}, onClose() {} };

export class Core implements CoreInbound, EventPublisher {
  private readonly subscriptions: Subscriptions;
  private readonly session: Session;
  private readonly sweeper: Sweeper;
  /** Shared by every connection (no closures per socket). */
  private readonly connectionEvents: ClientConnectionEvents = {
    message: (conn, text) => this.session.handle(conn, text),
    closed: (conn, code) => this.closed(conn, code),
  };
  private readonly now: () => number;
  private draining = false;

  constructor(
    private readonly deps: {
      config: CoreConfig;
      apps: AppDirectory;
      registry: LocalRegistry;
      watchlists: Watchlists;
      cache: ChannelCache;
      delivery: LocalDelivery;
      /** Where published events go: straight to the sockets and the other nodes, or through a channel's stream. */
      streams: ChannelStreams;
      presence: PresenceService;
      /** Channel traffic to and from the other nodes (SoloLink on a single node). */
      link: ClusterLink;
      /** Cache updates and user commands to the other nodes (NO_PEERS on a single node). */
      peers: PeerCommands;
      webhooks: WebhookSink;
      metrics: ServerMetrics;
      logger: Logger;
      connectionLimits: ConnectionLimits;
      refusals: Refusals;
      extensions?: CoreExtensions;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
    this.subscriptions = new Subscriptions({
      presence: deps.presence,
      link: deps.link,
      sizes: deps.delivery,
      cache: deps.cache,
      webhooks: deps.webhooks,
      refusals: deps.refusals,
      maxChannelNameLength: deps.config.limits.maxChannelNameLength,
      maxChannelsPerConnection: deps.config.limits.maxChannelsPerConnection,
      maxSubscriptionsPerIp: deps.config.limits.maxSubscriptionsPerIp,
      streams: deps.streams,
    });
    this.session = new Session({
      subscriptions: this.subscriptions,
      route: {
        publishFromClient: (conn, topic, frame) => this.settled(deps.streams.publish(conn.app.id, topic, frame, conn)),
        signedIn: (conn) => this.signedIn(conn),
      },
      webhooks: deps.webhooks,
      metrics: deps.metrics,
      logger: deps.logger,
      refusals: deps.refusals,
      frames: { perSecond: deps.config.limits.maxFramesPerSecond, burst: deps.config.limits.maxFrameBurst },
      now: this.now,
      ...(deps.extensions ? { extensions: deps.extensions } : {}),
    });
    this.sweeper = new Sweeper({
      config: deps.config,
      registry: deps.registry,
      cache: deps.cache,
      fail: (conn, err) => this.session.fail(conn, err),
      now: this.now,
    });
    deps.metrics.connections.collect((set) => {
      for (const appId of deps.registry.appIds()) set({ app: appId }, deps.registry.appConnections(appId));
    });
  }

  start(): void {
    this.sweeper.start(this.deps.apps.all());
  }

  // --------------------------------------------------------------------------------------------
  // Connections

  /** TransportHooks.openSocket */
  open(socket: WsSocket, info: UpgradeInfo): SocketHandler {
    const { registry, link, metrics, extensions, connectionLimits } = this.deps;
    // Capacity first, before anything is parsed or allocated for the connection.
    const full = connectionLimits.check(info);
    if (full !== null) {
      sendRefusal(socket, full);
      return NOOP_HANDLER;
    }
    let app: AppConfig;
    try {
      app = admit(info, {
        apps: this.deps.apps,
        connections: (appId) => registry.appConnections(appId) + link.remoteConnections(appId),
        draining: () => this.draining,
      });
    } catch (err) {
      sendRefusal(
        socket,
        asRefusal(err, this.deps.logger, { path: info.path.slice(0, 100), remoteAddress: info.remoteAddress }),
      );
      return NOOP_HANDLER;
    }
    const now = this.now();
    const conn = new Connection(
      this.newSocketId(),
      app,
      socket,
      now,
      this.connectionEvents,
      this.deps.config.limits.maxFrameBurst,
    );
    if (app.userAuthentication && app.signinTimeoutMs > 0) conn.signinDeadline = now + app.signinTimeoutMs;
    // A copy: the transport may work out some fields (the client address) only when asked.
    if (extensions?.wantsHandshake(app))
      conn.handshake = { path: info.path, query: info.query, headers: info.headers, remoteAddress: info.remoteAddress };
    registry.add(conn);
    if (connectionLimits.perIp) connectionLimits.opened(info.remoteAddress);
    metrics.connectionsTotal.inc({ app: app.id });
    socket.send(frames.connectionEstablished(conn.socketId, this.deps.config.activityTimeout));
    return conn;
  }

  /** A random id no local connection has (a repeat is astronomically unlikely, but cheap to rule out). */
  private newSocketId(): string {
    let id = randomSocketId();
    while (this.deps.registry.get(id) !== undefined) id = randomSocketId();
    return id;
  }

  private closed(conn: Connection, code: number): void {
    if (conn.closed) return;
    conn.closed = true;
    const { registry, watchlists, connectionLimits } = this.deps;
    // The address was read at open (the transport keeps it from then on).
    if (connectionLimits.perIp) connectionLimits.closed(conn.socket.remoteAddress);
    this.deps.extensions?.closed(conn);
    this.deps.metrics.disconnectionsTotal.inc({ app: conn.app.id, code: closeCodeLabel(code) });
    if (this.draining && this.deps.link.handsOffPresence) {
      // Graceful leave in a cluster: the other nodes keep this node's entries for the hand-off
      // period, so users reconnecting elsewhere neither leave nor rejoin.
      watchlists.remove(conn);
      registry.remove(conn);
      return;
    }
    this.subscriptions.leaveAll(conn);
    if (conn.user) {
      watchlists.remove(conn);
      this.deps.presence.leave(usersTopic(conn.app.id), conn.socketId);
    }
    registry.remove(conn);
  }

  private signedIn(conn: Connection): void {
    const user = conn.user!;
    const { presence, watchlists } = this.deps;
    this.deps.registry.addUser(conn, user.id);
    presence.join(usersTopic(conn.app.id), user.id, conn.socketId, undefined);
    if (user.watchlist.length === 0) return;
    watchlists.add(conn, user.watchlist);
    const topic = usersTopic(conn.app.id);
    const online = user.watchlist.filter((id) => presence.view.hasMember(topic, id));
    const offline = user.watchlist.filter((id) => !presence.view.hasMember(topic, id));
    const events: frames.WatchlistEvent[] = [];
    if (online.length) events.push({ name: 'online', user_ids: online });
    if (offline.length) events.push({ name: 'offline', user_ids: offline });
    conn.socket.send(frames.watchlistEvents(events));
  }

  // --------------------------------------------------------------------------------------------
  // Publishing (EventPublisher, for the HTTP API; client events)

  /** A client event's publish that completes later (a store's append): a failure is logged, nobody waits. */
  private settled(pending: void | Promise<void>): void {
    if (pending !== undefined)
      pending.catch((err: unknown) => this.deps.logger.warn('a client event was not kept by its stream', { err }));
  }

  publish(
    app: AppConfig,
    channel: string,
    event: string,
    data: unknown,
    exceptSocketId?: string,
  ): void | Promise<void> {
    const topic = topicOf(app.id, channel);
    const frame = frames.channelEvent(event, channel, data);
    if (isCacheChannel(channel)) {
      this.deps.cache.set(topic, frame);
      this.deps.peers.cache(topic, frame);
    }
    return this.deps.streams.publish(app.id, topic, frame, exceptSocketId);
  }

  terminateUser(app: AppConfig, userId: string): void {
    this.userCommand(app.id, userId, { type: 'terminate' });
    this.deps.peers.userCommand(app.id, userId, { type: 'terminate' });
  }

  private localSocket(socketId: string | undefined): WsSocket | undefined {
    return socketId === undefined ? undefined : this.deps.registry.get(socketId)?.socket;
  }

  // --------------------------------------------------------------------------------------------
  // CoreInbound (what other nodes send)

  deliver(topic: string, frame: string, exceptSocketId?: string): void {
    this.deps.delivery.toTopic(parseTopic(topic).appId, topic, frame, this.localSocket(exceptSocketId));
  }

  cacheStored(topic: string, frame: string): void {
    this.deps.cache.set(topic, frame);
  }

  userCommand(appId: string, userId: string, command: UserCommand): void {
    if (command.type !== 'terminate') return;
    for (const conn of this.deps.registry.userConnections(appId, userId)) {
      this.session.fail(conn, fatalError(ErrorCodes.UNAUTHORIZED, 'Connection terminated by the app'));
    }
  }

  // --------------------------------------------------------------------------------------------
  // Shutdown

  /**
   * Asks every client to reconnect (4200), spread over `spreadMs` so they do not all reconnect to
   * the remaining nodes at once, then waits (up to `deadlineMs` in total) for them to go.
   */
  async drain(spreadMs: number, deadlineMs: number): Promise<void> {
    this.draining = true;
    const registry = this.deps.registry;
    const conns = [...registry.connections()];
    const started = this.now();
    const slices = Math.max(1, Math.min(20, conns.length));
    const per = Math.ceil(conns.length / slices);
    for (let i = 0; i < slices; i++) {
      for (const conn of conns.slice(i * per, (i + 1) * per)) {
        this.session.fail(conn, fatalError(ErrorCodes.RECONNECT, 'Server is shutting down, please reconnect'));
      }
      if (i < slices - 1) await sleep(spreadMs / slices);
    }
    while (registry.size() > 0 && this.now() - started < deadlineMs) await sleep(50);
  }

  stop(): void {
    this.sweeper.stop();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
