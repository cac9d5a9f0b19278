/**
 * The composition root: the only place parts are built (with the assembly functions it alone calls:
 * cluster/assemble.ts, livewire/assemble.ts, history/durable/open.ts, and observability.ts). One pass, bottom-up: the cluster node before its users, each
 * part given its dependencies in its constructor; the features that hear other nodes register
 * with the node before it joins. Then the I/O, in order: listeners, joining the cluster, the port.
 * Nothing else constructs parts or hands the server object around.
 */
import { randomBytes } from 'node:crypto';
import { StaticAppDirectory } from './apps/directory.js';
import { assembleCluster } from './cluster/assemble.js';
import type { MemoryBus } from './cluster/backends/memory.js';
import { SoloLink, type ClusterLink, type StopMode } from './cluster/types.js';
import type { Config } from './config/schema.js';
import { ChannelCache } from './core/cache.js';
import { PresenceQueries } from './core/channel-queries.js';
import { CoreMessages, NO_PEERS, coreFeature } from './core/cluster.js';
import { Core } from './core/core.js';
import { LocalDelivery } from './core/delivery.js';
import { TransitionEffects } from './core/effects.js';
import { LocalRegistry } from './core/registry.js';
import { DirectStreams, type ChannelStreams } from './core/streams.js';
import { Watchlists } from './core/watchlist.js';
import { withFragmentRefreshes } from './fragments/cluster.js';
import { HistoryChannels } from './history/channels.js';
import { ClusterPeers, HistoryReceiver } from './history/cluster.js';
import { Replication } from './history/replication.js';
import { Resumer } from './history/resumer.js';
import { Sequencer } from './history/sequencer.js';
import { HistoryStreams } from './history/streams.js';
import { ResumeBudget } from './history/budget.js';
import { openChannelStore } from './history/durable/open.js';
import { StoreFeature, StoreStreams } from './history/durable/streams.js';
import { HttpApi } from './http/router.js';
import { MetricsAccess } from './http/metrics-access.js';
import { loadLivewireParts } from './livewire/assemble.js';
import { ConnectionLimits } from './limits/connection-limits.js';
import { TrustedProxies } from './limits/client-address.js';
import { resolveMaxConnections } from './limits/fd-limit.js';
import { SocketGuard } from './limits/socket-guard.js';
import { Refusals } from './limits/refusals.js';
import { createLogger, type Logger } from './log/logger.js';
import { MetricsListener } from './metrics/listener.js';
import { createServerMetrics } from './metrics/server-metrics.js';
import { Observability } from './observability.js';
import { PresenceReplication } from './presence/cluster.js';
import { PresenceService, type TransitionSink } from './presence/service.js';
import { PresenceView } from './presence/view.js';
import { Readiness, stopNode, type Part } from './stop.js';
import { createTransport } from './transport/select.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';

export type { StopMode } from './cluster/types.js';

export interface RunningServer {
  readonly port: number;
  readonly nodeId: string;
  readonly transport: string;
  /** The dashboard's port, when `dashboard.enabled`. */
  readonly dashboardPort: number | undefined;
  /**
   * Stops the node (see stop.ts): `graceful` drains and flushes, `immediate` closes at once,
   * `crash` says no goodbye to the cluster. Later calls return the first call's promise.
   */
  stop(mode: StopMode): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** In-process cluster tests: nodes sharing one bus (with `cluster.driver: 'memory'`). */
  bus?: MemoryBus;
  /** This process is one of a node's workers, sharing the port with its siblings. */
  sharedPort?: boolean;
  /** What `/metrics` serves, given this process's own exposition (workers: the whole node's). */
  metricsFrom?: (render: () => string) => () => Promise<string>;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const nodeId = `${config.nodeId || 'wiremesh'}-${randomBytes(4).toString('hex')}`;
  const logger = (options.logger ?? createLogger({ level: config.logLevel })).child({ nodeId });
  const metrics = createServerMetrics();
  const apps = new StaticAppDirectory(config.apps);
  const webhooks = new WebhookDispatcher({
    config: config.webhooks,
    logger: logger.child({ part: 'webhooks' }),
    observer: {
      sent: (appId, ok) => metrics.webhooks.inc({ app: appId, outcome: ok ? 'ok' : 'failed' }),
      dropped: (appId, events, reason) => metrics.webhooksDropped.inc({ app: appId, reason }, events),
      coalesced: (appId, pairs) => metrics.webhooksCoalesced.inc({ app: appId }, pairs),
    },
  });
  const refusals = new Refusals({ logger: logger.child({ part: 'limits' }), counter: metrics.refusals });
  const capacity = resolveMaxConnections(config.limits.maxConnections);
  const proxies = new TrustedProxies(config.trustedProxies, config.proxyHeader);
  const transport = await createTransport(
    config.transport,
    {
      gate: new SocketGuard({
        maxConnections: capacity.maxConnections,
        maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
        firstRequestMs: config.limits.headersTimeoutMs,
        proxies,
        refusals,
      }),
      proxies,
      host: config.host,
      port: config.port,
      maxFrameBytes: config.limits.maxFrameBytes,
      maxRequestBodyBytes: config.limits.maxRequestBodyBytes,
      maxBufferedBytes: config.limits.maxBufferedBytes,
      ...(options.sharedPort ? { sharedPort: true } : {}),
    },
    logger.child({ part: 'transport' }),
  );

  // ---- local state, then the cluster node over it (null on a single node) ----
  const registry = new LocalRegistry();
  const watchlists = new Watchlists();
  const cache = new ChannelCache();
  const connectionLimits = new ConnectionLimits({
    maxConnections: capacity.maxConnections,
    maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
    open: () => registry.size(),
    refusals,
  });
  const node = await assembleCluster(config, nodeId, () => registry.connectionsByApp(), logger, options.bus);
  const link: ClusterLink = node ?? new SoloLink();

  // ---- the parts that call the apps' Laravel servers: the Livewire tunnel and shared fragments ----
  // The presence view exists before the presence service: the fragments read it, and the service's
  // sink feeds them its transitions.
  const presenceView = new PresenceView();
  const livewire = await loadLivewireParts(config, {
    metrics,
    logger,
    replica: nodeId,
    fragments: { presence: presenceView, link },
  });
  const fragments = livewire?.fragments;

  // ---- where published events go: the direct way, or through channel history (src/history/) ----
  const historyChannels = config.apps.some((app) => app.history) ? new HistoryChannels(config.apps) : undefined;
  const sequencer = historyChannels ? new Sequencer({ channels: historyChannels }) : undefined;
  const historyPeers = historyChannels && node ? new ClusterPeers(node) : null;
  // Waiting resumes see every frame delivered here (they buffer what their socket is not attached to yet).
  const store = await openChannelStore(
    config,
    historyChannels,
    logger.child({ part: 'history' }),
    node ? (topic, payload) => node.inbound(topic, payload) : undefined,
  );
  const resumer =
    historyChannels && sequencer
      ? new Resumer({
          channels: historyChannels,
          local: sequencer,
          peers: historyPeers,
          ...(store ? { store } : {}),
          fanout: transport,
          logger: logger.child({ part: 'history' }),
          refusals,
        })
      : undefined;
  const delivery = new LocalDelivery({ fanout: transport, metrics, ...(resumer ? { observer: resumer } : {}) });
  const direct = new DirectStreams({ delivery, link, sockets: registry });
  const replication =
    sequencer && historyPeers
      ? new Replication({ store: sequencer.store, peers: historyPeers, logger: logger.child({ part: 'history' }) })
      : null;
  const history =
    historyChannels && sequencer && resumer
      ? new HistoryStreams({ channels: historyChannels, sequencer, resumer, direct, peers: historyPeers, replication })
      : undefined;
  const inMemory: ChannelStreams = history ?? direct;
  // Apps with their history in the broker: appended and replayed there, no owner node on the way.
  const inStore =
    store && historyChannels && resumer
      ? new StoreStreams({
          channels: historyChannels,
          store,
          resumer,
          budget: new ResumeBudget(),
          next: inMemory,
          fanout: transport,
          logger: logger.child({ part: 'history' }),
        })
      : undefined;
  const streams: ChannelStreams = inStore ?? inMemory;

  // ---- presence, its transitions' effects, and its replication to the other nodes ----
  const effects = new TransitionEffects({
    delivery,
    ownership: link,
    webhooks,
    watchlists,
    appById: (id) => apps.byId(id),
    metrics,
  });
  // Shared fragments re-render on presence transitions too (after the frames and webhooks).
  const sink: TransitionSink = fragments ? { apply: (t) => (effects.apply(t), fragments.presenceChanged(t)) } : effects;
  const presence = new PresenceService(
    nodeId,
    sink,
    node
      ? { heartbeat: node, maxEntriesPerNode: config.limits.maxReplicatedSubscriptionsPerNode, refusals }
      : undefined,
    presenceView,
  );
  node?.register(new PresenceReplication({ node, store: presence }));

  // ---- the core, and what other nodes send it ----
  const core = new Core({
    config,
    apps,
    registry,
    watchlists,
    cache,
    delivery,
    streams,
    presence,
    link,
    peers: node ? new CoreMessages(node) : NO_PEERS,
    webhooks,
    metrics,
    logger: logger.child({ part: 'core' }),
    connectionLimits,
    refusals,
    ...(livewire ? { extensions: livewire.extensions } : {}),
  });
  node?.register(coreFeature(core, fragments ? withFragmentRefreshes(core, fragments) : core));
  const historyReceiver = Boolean(
    node && history && sequencer && resumer && historyPeers && historyChannels && replication,
  );
  if (node && history && sequencer && resumer && historyPeers && historyChannels && replication)
    node.register(
      new HistoryReceiver({
        channels: historyChannels,
        streams: history,
        sequencer,
        resumer,
        replication,
        peers: historyPeers,
        logger: logger.child({ part: 'history' }),
      }),
    );
  // The store's resume answers count once their marks arrive (HistoryReceiver hands those on too).
  if (node && store && inStore && resumer)
    node.register(new StoreFeature(store.reconnectLoses ? inStore : null, historyReceiver ? null : resumer));

  // ---- the HTTP API, /metrics, the dashboard ----
  const readiness = new Readiness();
  const queries = new PresenceQueries(presence.view);
  const http = new HttpApi({
    apps,
    queries,
    publisher: core,
    metrics,
    logger: logger.child({ part: 'http' }),
    maxChannelNameLength: config.limits.maxChannelNameLength,
    maxRequestBodyBytes: config.limits.maxRequestBodyBytes,
    ...(config.metrics && config.metricsPort === 0 ? { metricsAccess: new MetricsAccess(config.metricsToken) } : {}),
    ...(options.metricsFrom ? { renderMetrics: options.metricsFrom(() => metrics.registry.render()) } : {}),
    isReady: () => readiness.ready,
    ...(livewire ? { extension: livewire.http } : {}),
    ...(fragments ? { fragments } : {}),
  });
  // /metrics on its own listener (config.metricsPort), apart from the client-facing port.
  const metricsListener =
    config.metrics && config.metricsPort !== 0
      ? new MetricsListener({
          host: config.metricsHost,
          port: config.metricsPort,
          access: new MetricsAccess(config.metricsToken),
          render: options.metricsFrom
            ? options.metricsFrom(() => metrics.registry.render())
            : async () => metrics.registry.render(),
          logger: logger.child({ part: 'metrics' }),
          onRefused: (address) => http.metricsRefused(address),
        })
      : undefined;
  const observability = new Observability({
    config,
    nodeId,
    metrics,
    webhooks,
    membership: node?.membership ?? null,
    entries: () => presence.entries(),
    queries,
    logger,
  });
  node?.register(observability.heartbeatStats);

  // ---- I/O, in order: listeners, the cluster, the client-facing port ----
  if (metricsListener) {
    const metricsPort = await metricsListener.listen();
    logger.info('metrics listening', { host: config.metricsHost, port: metricsPort });
  }
  const dashboardPort = await observability.listen();
  await node?.start();
  const port = await transport.listen({
    openSocket: (socket, info) => core.open(socket, info),
    handleHttp: (req) => http.handle(req),
    admitHttp: (head) => http.admit(head),
    bodyTooLarge: (head) => http.tooLarge(head),
    bodyLimit: (head) => http.bodyLimit(head),
  });
  core.start();
  livewire?.start();
  readiness.open();
  logger.info('wiremesh listening', {
    host: config.host,
    port,
    transport: transport.name,
    apps: config.apps.map((a) => a.id),
    cluster: config.cluster.driver,
    maxConnections: capacity.maxConnections,
    ...(capacity.openFiles === undefined ? {} : { openFiles: capacity.openFiles, openFilesFrom: capacity.source }),
    maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
  });

  // What stops, in this order (stop.ts): drains first (graceful), then every part's stop.
  const parts: Part[] = [
    { name: 'core', drain: (graceMs) => core.drain(graceMs / 2, graceMs), stop: () => core.stop() },
    {
      name: 'history',
      stop: async (mode) => {
        // Before the node leaves: the next nodes get the streams, and what this one is sent from now on.
        if (mode === 'graceful') history?.handOver();
        sequencer?.stop();
        resumer?.stop();
        await store?.close();
      },
    },
    {
      name: 'livewire',
      stop: async () => {
        await livewire?.close();
      },
    },
    {
      name: 'cluster',
      stop: async (mode) => {
        await node?.stop(mode);
        history?.detached();
      },
    },
    {
      name: 'webhooks',
      stop: async (mode, graceMs) => {
        if (mode === 'graceful') await webhooks.flush(Math.max(1_000, graceMs / 2));
        webhooks.close();
      },
    },
    { name: 'transport', drain: () => transport.stopAccepting(), stop: () => transport.close() },
    { name: 'metrics', stop: () => metricsListener?.close() },
    observability,
  ];
  let stopping: Promise<void> | null = null;
  const stop = (mode: StopMode): Promise<void> => {
    readiness.close();
    return stopNode(parts, mode, config.shutdownGraceMs, logger);
  };
  return {
    port,
    nodeId,
    transport: transport.name,
    dashboardPort,
    stop: (mode) => (stopping ??= stop(mode)),
  };
}
