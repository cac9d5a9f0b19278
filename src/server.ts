/**
 * The composition root: builds every part from the validated config and wires them through their
 * narrow interfaces. Nothing else constructs parts or hands the server object around.
 */
import { randomBytes } from 'node:crypto';
import { StaticAppDirectory } from './apps/directory.js';
import { SoloLink, type ClusterLink } from './cluster/types.js';
import { BackendLink } from './cluster/link.js';
import { createBackend } from './cluster/backends/load.js';
import type { MemoryBus } from './cluster/backends/memory.js';
import type { Config } from './config/schema.js';
import { Core } from './core/core.js';
import { PresenceService } from './core/presence-service.js';
import { HttpApi } from './http/router.js';
import { createLogger, type Logger } from './log/logger.js';
import { createServerMetrics } from './metrics/server-metrics.js';
import type { LivewireTunnel } from './livewire/tunnel.js';
import { createTransport } from './transport/select.js';
import type { Transport } from './transport/types.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { addProcessMetrics } from './metrics/process-metrics.js';
import { StatsFeed } from './dashboard/feed.js';
import { collectStats, parseStats } from './dashboard/stats.js';
import type { DashboardServer } from './dashboard/server.js';
import { VERSION } from './version.js';

export interface RunningServer {
  readonly port: number;
  readonly nodeId: string;
  readonly transport: string;
  /** The dashboard's port, when `dashboard.enabled`. */
  readonly dashboardPort: number | undefined;
  /** Graceful stop: stop accepting, ask clients to reconnect, drain, flush webhooks. */
  shutdown(): Promise<void>;
  /** Immediate stop (tests). */
  close(): Promise<void>;
  /** Stops like a crash: no goodbye to the cluster, sockets cut (tests of failure handling). */
  crash(): Promise<void>;
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
    },
  });
  // ---- dashboard and observability (src/dashboard/, src/metrics/process-metrics.ts) ----
  const startedAt = Date.now();
  // Node's process metrics (an event-loop delay timer and a GC observer) only when someone may read them.
  const processMetrics =
    config.metrics || config.dashboard.enabled ? addProcessMetrics(metrics.registry) : { eventLoopLagSeconds: () => 0, stop: () => undefined };
  metrics.webhookQueueAge.collect((set) => {
    for (const [app, age] of Object.entries(webhooks.queueAges())) set({ app }, age);
  });
  const appIds = config.apps.map((a) => a.id);
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
    peerWatching: () => (backendLink?.nodes() ?? []).some((n) => !n.down && n.leavingUntil === 0 && parseStats(n.stats, [])?.watching === true),
  });
  // ---- end dashboard and observability ----

  const clustered = config.cluster.driver !== 'memory' || options.bus !== undefined;
  const presence = new PresenceService(replica, { replicated: clustered });
  let backendLink: BackendLink | undefined;
  let localConnections: () => Record<string, number> = () => ({});
  if (clustered) {
    const c = config.cluster;
    backendLink = new BackendLink({
      backend: await createBackend(c, logger.child({ part: 'backend' }), options.bus),
      state: presence.state,
      localConnections: () => localConnections(),
      localStats: () => feed.forHeartbeat(),
      options: {
        prefix: c.driver === 'nats' ? c.nats.prefix : c.redis.prefix,
        heartbeatMs: c.heartbeatMs,
        nodeTimeoutMs: c.nodeTimeoutMs,
        handoffMs: c.nodeTimeoutMs,
        forgetAfterMs: 5 * 60_000,
        deltaDelayMs: 5,
      },
      logger: logger.child({ part: 'cluster' }),
    });
    const l = backendLink;
    presence.onLocalChange = () => l.presenceDirty();
    metrics.clusterNodes.collect((set) => set({}, 1 + l.nodes().filter((n) => !n.down && n.leavingUntil === 0).length));
    metrics.clusterEntries.collect((set) => set({}, presence.state.size()));
    metrics.clusterPeerUp.collect((set) => {
      for (const n of l.nodes()) set({ peer: n.replica }, !n.down && n.leavingUntil === 0 ? 1 : 0);
    });
  }
  const link: ClusterLink = backendLink ?? new SoloLink();
  let ready = false;

  // The Livewire tunnel (and undici with it) loads only when some app configures it.
  let tunnel: LivewireTunnel | undefined;
  if (config.apps.some((app) => app.livewire)) {
    const { LivewireTunnel } = await import('./livewire/tunnel.js');
    tunnel = new LivewireTunnel({
      apps: config.apps,
      limits: config.limits,
      metrics: { requests: metrics.livewireRequests, fallbacks: metrics.livewireFallbacks, latency: metrics.livewireLatency },
      logger: logger.child({ part: 'livewire' }),
    });
  }

  let core: Core | undefined;
  let http: HttpApi | undefined;
  const transport: Transport = await createTransport(
    config.transport,
    {
      host: config.host,
      port: config.port,
      maxFrameBytes: config.limits.maxFrameBytes,
      maxRequestBodyBytes: config.limits.maxRequestBodyBytes,
      maxBufferedBytes: config.limits.maxBufferedBytes,
      ...(options.sharedPort ? { sharedPort: true } : {}),
    },
    {
      openSocket: (socket, info) => core!.open(socket, info),
      handleHttp: (req) => http!.handle(req),
    },
    logger.child({ part: 'transport' }),
  );
  core = new Core({
    config,
    apps,
    delivery: transport,
    presence,
    link,
    webhooks,
    metrics,
    logger: logger.child({ part: 'core' }),
    ...(tunnel ? { extensions: tunnel } : {}),
  });
  const registry = core.registry;
  localConnections = () => {
    const out: Record<string, number> = {};
    for (const appId of registry.appIds()) out[appId] = registry.appConnections(appId);
    return out;
  };
  backendLink?.register(core);
  await link.start();
  http = new HttpApi({
    apps,
    queries: core,
    publisher: core,
    metrics,
    logger: logger.child({ part: 'http' }),
    maxChannelNameLength: config.limits.maxChannelNameLength,
    metricsEnabled: config.metrics,
    ...(options.metricsFrom ? { renderMetrics: options.metricsFrom(() => metrics.registry.render()) } : {}),
    isReady: () => ready,
  });

  // The dashboard (off by default) listens on its own address; its code loads only when enabled.
  let dashboard: DashboardServer | undefined;
  let dashboardPort: number | undefined;
  if (config.dashboard.enabled) {
    const { DashboardServer } = await import('./dashboard/server.js');
    dashboard = new DashboardServer({
      config: config.dashboard,
      selfId: replica,
      appIds,
      queries: core,
      feed,
      peers: () => backendLink?.nodes() ?? [],
      logger: logger.child({ part: 'dashboard' }),
    });
    dashboardPort = await dashboard.listen();
  }
  const stopObservability = async (): Promise<void> => {
    processMetrics.stop();
    await dashboard?.close();
  };

  const port = await transport.listen();
  core.start();
  tunnel?.start();
  ready = true;
  logger.info('wiremesh listening', {
    host: config.host,
    port,
    transport: transport.name,
    apps: config.apps.map((a) => a.id),
    cluster: config.cluster.driver,
  });

  const c = core;
  let stopping: Promise<void> | null = null;
  return {
    port,
    nodeId: replica,
    transport: transport.name,
    dashboardPort,
    shutdown: () =>
      (stopping ??= (async () => {
        // While draining, the port stays open: /ready answers 503 so load balancers move on, the
        // HTTP API keeps serving publishers, and new WebSockets are refused with 4200 by the core.
        ready = false;
        logger.info('shutting down: draining connections', { graceMs: config.shutdownGraceMs });
        await c.drain(config.shutdownGraceMs / 2, config.shutdownGraceMs);
        await transport.stopAccepting();
        c.stop();
        await tunnel?.close();
        await link.stop();
        await webhooks.flush(Math.max(1_000, config.shutdownGraceMs / 2));
        webhooks.close();
        await transport.close();
        await stopObservability();
        logger.info('shutdown complete');
      })()),
    crash: () =>
      (stopping ??= (async () => {
        ready = false;
        c.stop();
        await tunnel?.close();
        await backendLink?.abandon();
        webhooks.close();
        await transport.close();
        await stopObservability();
      })()),
    close: () =>
      (stopping ??= (async () => {
        ready = false;
        c.stop();
        await tunnel?.close();
        await link.stop();
        webhooks.close();
        await transport.close();
        await stopObservability();
      })()),
  };
}
