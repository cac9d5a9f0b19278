/**
 * The composition root: builds every part from the validated config, bottom-up, each given its
 * dependencies at construction (the transport and the cluster link take the receivers of their
 * inbound traffic when they start). Nothing else constructs parts or hands the server object around.
 */
import { randomBytes } from 'node:crypto';
import { StaticAppDirectory } from './apps/directory.js';
import { clusterLink, clusterParts, historyLink, replication } from './cluster/assemble.js';
import type { MemoryBus } from './cluster/backends/memory.js';
import type { NodeInfo } from './cluster/membership.js';
import { SOLE_OWNER, type StopMode } from './cluster/types.js';
import type { Config } from './config/schema.js';
import { ChannelCache } from './core/cache.js';
import { PresenceQueries } from './core/channel-queries.js';
import { Core } from './core/core.js';
import { LocalDelivery } from './core/delivery.js';
import { TransitionEffects } from './core/effects.js';
import { LocalRegistry } from './core/registry.js';
import { Watchlists } from './core/watchlist.js';
import { HttpApi } from './http/router.js';
import { MetricsAccess } from './http/metrics-access.js';
import { MetricsListener } from './metrics/listener.js';
import type { LivewireTunnel } from './livewire/tunnel.js';
import { ExtensionRouter } from './core/extensions.js';
import { withFragmentRefreshes } from './fragments/cluster.js';
import type { FragmentService } from './fragments/service.js';
import type { TransitionSink } from './presence/service.js';
import { createLogger, type Logger } from './log/logger.js';
import { createServerMetrics, type ServerMetrics } from './metrics/server-metrics.js';
import { resolveMaxConnections } from './limits/fd-limit.js';
import { ConnectionLimits } from './limits/connection-limits.js';
import { TrustedProxies } from './limits/client-address.js';
import { SocketGuard } from './limits/socket-guard.js';
import { Refusals } from './limits/refusals.js';
import { PresenceService } from './presence/service.js';
import { stopNode } from './stop.js';
import { createTransport } from './transport/select.js';
import type { HttpRequest } from './transport/types.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { HistoryService } from './history/service.js';
import { addProcessMetrics } from './metrics/process-metrics.js';
import { StatsFeed } from './dashboard/feed.js';
import { collectStats, parseStats } from './dashboard/stats.js';
import type { DashboardServer } from './dashboard/server.js';
import { VERSION } from './version.js';

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
  const replica = `${config.nodeId || 'wiremesh'}-${randomBytes(4).toString('hex')}`;
  const logger = (options.logger ?? createLogger({ level: config.logLevel })).child({ nodeId: replica });
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
  const tunnel = await loadTunnel(config, metrics, logger);
  const fragments = tunnel ? await loadFragments(config, tunnel, metrics, replica, logger) : undefined;
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

  // Local state, then the presence service over it, then the cluster link that replicates it.
  const registry = new LocalRegistry();
  const watchlists = new Watchlists();
  const cache = new ChannelCache();
  const connectionLimits = new ConnectionLimits({
    maxConnections: capacity.maxConnections,
    maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
    open: () => registry.size(),
    refusals,
  });
  const cluster = await clusterParts(config, replica, logger, options.bus);
  // Channel history (src/history/): only when some app opts channels in. Waiting resumes see the local fan-out.
  const history = config.apps.some((app) => app.history)
    ? new HistoryService({
        apps: config.apps,
        link: cluster ? historyLink(replica, cluster) : null,
        transport,
        logger: logger.child({ part: 'history' }),
      })
    : undefined;
  const delivery = new LocalDelivery({ fanout: history?.fanout ?? transport, metrics });

  // ---- dashboard and observability (src/dashboard/, src/metrics/process-metrics.ts) ----
  const startedAt = Date.now();
  // Node's process metrics (an event-loop delay timer and a GC observer) only when someone may read them.
  const processMetrics =
    config.metrics || config.dashboard.enabled
      ? addProcessMetrics(metrics.registry)
      : { eventLoopLagSeconds: () => 0, stop: () => undefined };
  metrics.webhookQueueAge.collect((set) => {
    for (const [app, age] of Object.entries(webhooks.queueAges())) set({ app }, age);
  });
  const appIds = config.apps.map((a) => a.id);
  const peers = (): readonly NodeInfo[] => cluster?.membership.all() ?? [];
  const isLive = (n: NodeInfo): boolean => !n.down && n.leavingUntil === 0;
  const feed = new StatsFeed({
    collect: (watching) =>
      collectStats(metrics, appIds, {
        region: config.region,
        version: VERSION,
        startedAt,
        lagMs: processMetrics.eventLoopLagSeconds() * 1000,
        watching,
        queueAges: webhooks.queueAges(),
      }),
    peerWatching: () => peers().some((n) => isLive(n) && parseStats(n.stats, [])?.watching === true),
  });
  if (cluster) {
    metrics.clusterNodes.collect((set) => set({}, 1 + peers().filter(isLive).length));
    metrics.clusterPeerUp.collect((set) => {
      for (const n of peers()) set({ peer: n.replica }, isLive(n) ? 1 : 0);
    });
  }
  // ---- end dashboard and observability ----

  const effects = new TransitionEffects({
    delivery,
    ownership: cluster?.membership ?? SOLE_OWNER,
    webhooks,
    watchlists,
    appById: (id) => apps.byId(id),
    metrics,
  });
  // Shared fragments re-render on presence transitions too (after the frames and webhooks).
  const sink: TransitionSink = fragments ? { apply: (t) => (effects.apply(t), fragments.presenceChanged(t)) } : effects;
  const presence = new PresenceService(
    replica,
    sink,
    cluster
      ? replication(
          cluster,
          { connections: () => registry.connectionsByApp(), stats: () => feed.forHeartbeat() },
          { maxEntriesPerNode: config.limits.maxReplicatedSubscriptionsPerNode, refusals },
          logger,
        )
      : undefined,
  );
  const link = clusterLink(replica, cluster, presence.replicator, logger, history);
  if (cluster) metrics.clusterEntries.collect((set) => set({}, presence.entries()));
  const core = new Core({
    config,
    apps,
    registry,
    watchlists,
    cache,
    delivery,
    presence,
    link,
    webhooks,
    metrics,
    logger: logger.child({ part: 'core' }),
    connectionLimits,
    refusals,
    ...(tunnel ? { extensions: fragments ? fragmentsAndTunnel(fragments, tunnel) : tunnel } : {}),
    ...(history ? { history } : {}),
  });
  let ready = false;
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
    isReady: () => ready,
    ...(tunnel ? { extension: (req: HttpRequest) => tunnel.http(req) } : {}),
    ...(fragments ? { fragments } : {}),
  });

  // /metrics on its own listener (config.metricsPort), apart from the client-facing port.
  let metricsListener: MetricsListener | undefined;
  if (config.metrics && config.metricsPort !== 0) {
    const api = http;
    const render = options.metricsFrom
      ? options.metricsFrom(() => metrics.registry.render())
      : async () => metrics.registry.render();
    metricsListener = new MetricsListener({
      host: config.metricsHost,
      port: config.metricsPort,
      access: new MetricsAccess(config.metricsToken),
      render,
      logger: logger.child({ part: 'metrics' }),
      onRefused: (address) => api.metricsRefused(address),
    });
    const metricsPort = await metricsListener.listen();
    logger.info('metrics listening', { host: config.metricsHost, port: metricsPort });
  }

  history?.start({ local: core, link });
  // The dashboard (off by default) listens on its own address; its code loads only when enabled.
  let dashboard: DashboardServer | undefined;
  let dashboardPort: number | undefined;
  if (config.dashboard.enabled) {
    const { DashboardServer } = await import('./dashboard/server.js');
    dashboard = new DashboardServer({
      config: config.dashboard,
      selfId: replica,
      appIds,
      queries,
      feed,
      peers,
      logger: logger.child({ part: 'dashboard' }),
    });
    dashboardPort = await dashboard.listen();
  }

  await link.start(fragments ? withFragmentRefreshes(core, fragments) : core);
  const port = await transport.listen({
    openSocket: (socket, info) => core.open(socket, info),
    handleHttp: (req) => http.handle(req),
    admitHttp: (head) => http.admit(head),
    bodyTooLarge: (head) => http.tooLarge(head),
    bodyLimit: (head) => http.bodyLimit(head),
  });
  core.start();
  tunnel?.start();
  fragments?.start({ presence: presence.view, link });
  ready = true;
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

  let stopping: Promise<void> | null = null;
  const stop = (mode: StopMode): Promise<void> => {
    ready = false;
    return stopNode(
      {
        drain: (spreadMs, deadlineMs) => core.drain(spreadMs, deadlineMs),
        stopAccepting: () => transport.stopAccepting(),
        stopCore: () => {
          core.stop();
          history?.stop();
        },
        closeTunnel: async () => {
          fragments?.stop();
          await tunnel?.close();
        },
        leaveCluster: (m) => link.stop(m),
        flushWebhooks: (deadlineMs) => webhooks.flush(deadlineMs),
        closeWebhooks: () => webhooks.close(),
        closeTransport: async () => {
          await transport.close();
          await metricsListener?.close();
        },
        closeObservability: async () => {
          processMetrics.stop();
          await dashboard?.close();
        },
      },
      mode,
      config.shutdownGraceMs,
      logger,
    );
  };
  return {
    port,
    nodeId: replica,
    transport: transport.name,
    dashboardPort,
    stop: (mode) => (stopping ??= stop(mode)),
  };
}

/** The Livewire tunnel (and undici with it) loads only when some app configures it. */
async function loadTunnel(config: Config, metrics: ServerMetrics, logger: Logger): Promise<LivewireTunnel | undefined> {
  if (!config.apps.some((app) => app.livewire)) return undefined;
  const { LivewireTunnel } = await import('./livewire/tunnel.js');
  return new LivewireTunnel({
    apps: config.apps,
    limits: config.limits,
    metrics: {
      requests: metrics.livewireRequests,
      fallbacks: metrics.livewireFallbacks,
      latency: metrics.livewireLatency,
    },
    logger: logger.child({ part: 'livewire' }),
  });
}

/** Shared fragments render on the tunnel's upstreams; they load only when some app has them. */
async function loadFragments(
  config: Config,
  tunnel: LivewireTunnel,
  metrics: ServerMetrics,
  replica: string,
  logger: Logger,
): Promise<FragmentService | undefined> {
  if (!config.apps.some((app) => app.fragments)) return undefined;
  const [{ FragmentService }, { tunnelUpstreams }, { createFragmentMetrics }] = await Promise.all([
    import('./fragments/service.js'),
    import('./fragments/upstream.js'),
    import('./fragments/metrics.js'),
  ]);
  return new FragmentService({
    apps: config.apps,
    upstreams: tunnelUpstreams(tunnel),
    epoch: replica,
    maxChannelNameLength: config.limits.maxChannelNameLength,
    metrics: createFragmentMetrics(metrics.registry),
    logger: logger.child({ part: 'fragments' }),
  });
}

/** The connection's `wiremesh:*` events: the tunnel's and the fragments'. */
function fragmentsAndTunnel(fragments: FragmentService, tunnel: LivewireTunnel): ExtensionRouter {
  return new ExtensionRouter([
    { events: tunnel.events, handler: tunnel },
    { events: fragments.events, handler: fragments },
  ]);
}
