/**
 * The parts that call the apps' Laravel servers, built in one place for the composition root: the
 * apps' upstreams (src/upstreams/), the session sync, the Livewire tunnel and the shared fragments
 * (src/fragments/), the last two given the same upstreams. They load (undici with them) only when
 * some app has a `livewire` section; fragments only when some app has `fragments` too.
 */
import type { AppConfig, Config } from '../config/schema.js';
import type { ExtensionHandler } from '../core/session.js';
import type { FragmentService, FragmentServiceDeps } from '../fragments/service.js';
import type { Logger } from '../log/logger.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import type { Upstreams } from '../upstreams/upstreams.js';

export interface LivewireParts {
  /** The connections' `wiremesh:*` events (the tunnel's and the fragments'), for the core. */
  readonly extensions: ExtensionHandler & { wantsHandshake(app: AppConfig): boolean };
  /** `/wiremesh/*` over HTTP (the session sync), for the HTTP API. */
  readonly http: (req: HttpRequest) => HttpResponse;
  /** The shared fragments, when some app has them. */
  readonly fragments: FragmentService | undefined;
  /** Starts the upstreams' health checks and DNS lookups, and the fragments' periodic re-renders. */
  start(): void;
  /** Stops the fragments, aborts every tunnelled request, closes the upstream connections. */
  close(): Promise<void>;
}

export interface LivewirePartsDeps {
  metrics: ServerMetrics;
  logger: Logger;
  /** This node's id (the epoch of the fragments' versions). */
  replica: string;
  /** What the fragments read of presence, and their refresh topics on the cluster. */
  fragments: Pick<FragmentServiceDeps, 'presence' | 'link'>;
}

/** Undefined when no app has a `livewire` section. */
export async function loadLivewireParts(config: Config, deps: LivewirePartsDeps): Promise<LivewireParts | undefined> {
  if (!config.apps.some((app) => app.livewire)) return undefined;
  const [{ Upstreams }, { SessionSync }, { LivewireTunnel }, { ExtensionRouter }] = await Promise.all([
    import('../upstreams/upstreams.js'),
    import('./session-sync.js'),
    import('./tunnel.js'),
    import('../core/extensions.js'),
  ]);
  const logger = deps.logger.child({ part: 'livewire' });
  const upstreams = new Upstreams({ apps: config.apps, logger });
  const sessions = new SessionSync({ logger });
  const tunnel = new LivewireTunnel({
    apps: config.apps,
    upstreams,
    sessions,
    limits: config.limits,
    metrics: {
      requests: deps.metrics.livewireRequests,
      fallbacks: deps.metrics.livewireFallbacks,
      latency: deps.metrics.livewireLatency,
    },
    logger,
  });
  deps.metrics.registry
    .gauge('wiremesh_livewire_buffered_bytes', 'Upstream response bytes the Livewire tunnel holds in memory')
    .collect((set) => set({}, tunnel.bufferedBytes()));
  const fragments = await loadFragments(config, upstreams, deps);
  const extensions = new ExtensionRouter([
    { events: tunnel.events, handler: tunnel },
    ...(fragments ? [{ events: fragments.events, handler: fragments }] : []),
  ]);
  return {
    extensions,
    http: (req) => sessions.http(req),
    fragments,
    start: () => {
      upstreams.start();
      fragments?.start();
    },
    close: async () => {
      fragments?.stop();
      tunnel.close();
      await upstreams.close();
    },
  };
}

/** Shared fragments render on the apps' upstreams; they load only when some app has them. */
async function loadFragments(
  config: Config,
  upstreams: Upstreams,
  deps: LivewirePartsDeps,
): Promise<FragmentService | undefined> {
  if (!config.apps.some((app) => app.fragments)) return undefined;
  const [{ FragmentService }, { fragmentUpstreams }, { createFragmentMetrics }] = await Promise.all([
    import('../fragments/service.js'),
    import('../fragments/upstream.js'),
    import('../fragments/metrics.js'),
  ]);
  return new FragmentService({
    apps: config.apps,
    upstreams: fragmentUpstreams(upstreams),
    epoch: deps.replica,
    maxChannelNameLength: config.limits.maxChannelNameLength,
    metrics: createFragmentMetrics(deps.metrics.registry),
    logger: deps.logger.child({ part: 'fragments' }),
    ...deps.fragments,
  });
}
