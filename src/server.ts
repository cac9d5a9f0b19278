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
import type { FragmentService } from './fragments/service.js';
import { ExtensionRouter } from './core/extensions.js';
import { withFragmentRefreshes } from './fragments/cluster.js';
import { createTransport } from './transport/select.js';
import type { Transport } from './transport/types.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';

export interface RunningServer {
  readonly port: number;
  readonly nodeId: string;
  readonly transport: string;
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
  const clustered = config.cluster.driver !== 'memory' || options.bus !== undefined;
  // Shared fragments (built below, once the link and the tunnel exist) see every presence transition.
  let fragments: FragmentService | undefined;
  const presence = new PresenceService(replica, { replicated: clustered, observe: (t) => fragments?.presenceChanged(t) });
  let backendLink: BackendLink | undefined;
  let localConnections: () => Record<string, number> = () => ({});
  if (clustered) {
    const c = config.cluster;
    backendLink = new BackendLink({
      backend: await createBackend(c, logger.child({ part: 'backend' }), options.bus),
      state: presence.state,
      localConnections: () => localConnections(),
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

  // Shared fragments render on the tunnel's upstreams; loaded only when some app has them.
  let extensions: ExtensionRouter | LivewireTunnel | undefined = tunnel;
  if (tunnel && config.apps.some((app) => app.fragments)) {
    const [{ FragmentService, FRAGMENT_EVENTS }, { tunnelUpstreams }, { createFragmentMetrics }] = await Promise.all([
      import('./fragments/service.js'),
      import('./fragments/upstream.js'),
      import('./fragments/metrics.js'),
    ]);
    const view = presence.view;
    fragments = new FragmentService({
      apps: config.apps,
      upstreams: tunnelUpstreams(tunnel),
      presence: { members: (topic) => view.members(topic), subscriptionCount: (topic) => view.subscriptionCount(topic) },
      link,
      epoch: replica,
      maxChannelNameLength: config.limits.maxChannelNameLength,
      metrics: createFragmentMetrics(metrics.registry),
      logger: logger.child({ part: 'fragments' }),
    });
    extensions = new ExtensionRouter([
      { events: ['wiremesh:request', 'wiremesh:abort'], handler: tunnel },
      { events: FRAGMENT_EVENTS, handler: fragments },
    ]);
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
    ...(extensions ? { extensions } : {}),
  });
  const registry = core.registry;
  localConnections = () => {
    const out: Record<string, number> = {};
    for (const appId of registry.appIds()) out[appId] = registry.appConnections(appId);
    return out;
  };
  backendLink?.register(fragments ? withFragmentRefreshes(core, fragments) : core);
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
    ...(fragments ? { fragments } : {}),
  });

  const port = await transport.listen();
  core.start();
  tunnel?.start();
  fragments?.start();
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
    shutdown: () =>
      (stopping ??= (async () => {
        // While draining, the port stays open: /ready answers 503 so load balancers move on, the
        // HTTP API keeps serving publishers, and new WebSockets are refused with 4200 by the core.
        ready = false;
        logger.info('shutting down: draining connections', { graceMs: config.shutdownGraceMs });
        await c.drain(config.shutdownGraceMs / 2, config.shutdownGraceMs);
        await transport.stopAccepting();
        c.stop();
        fragments?.stop();
        await tunnel?.close();
        await link.stop();
        await webhooks.flush(Math.max(1_000, config.shutdownGraceMs / 2));
        webhooks.close();
        await transport.close();
        logger.info('shutdown complete');
      })()),
    crash: () =>
      (stopping ??= (async () => {
        ready = false;
        c.stop();
        fragments?.stop();
        await tunnel?.close();
        await backendLink?.abandon();
        webhooks.close();
        await transport.close();
      })()),
    close: () =>
      (stopping ??= (async () => {
        ready = false;
        c.stop();
        fragments?.stop();
        await tunnel?.close();
        await link.stop();
        webhooks.close();
        await transport.close();
      })()),
  };
}
