/**
 * The upstreams of every app that has a `livewire` section: per app, which Laravel servers exist
 * and are healthy, nearest first (set.ts), and one HTTP client with a keep-alive pool per server
 * (client.ts). Built once by the composition root and given to every part that calls the app: the
 * Livewire tunnel and the shared fragments. Health checks and DNS run from `start` to `close`.
 */
import type { AppConfig, LivewireConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { UpstreamClient } from './client.js';
import { UpstreamSet } from './set.js';

/** One app's upstreams: which to call, and how. */
export interface AppUpstreams {
  readonly set: UpstreamSet;
  readonly client: UpstreamClient;
}

export interface UpstreamsDeps {
  apps: readonly AppConfig[];
  logger: Logger;
  /** DNS answers for `livewire.dns.name` (tests); default node:dns lookup. */
  resolve?: (name: string) => Promise<string[]>;
}

export class Upstreams {
  private readonly apps = new Map<string, AppUpstreams>();

  constructor(deps: UpstreamsDeps) {
    for (const app of deps.apps) {
      if (app.livewire) this.apps.set(app.id, appUpstreams(app.livewire, deps, deps.logger.child({ appId: app.id })));
    }
  }

  /** The upstreams of `appId`; undefined when the app has no `livewire` section. */
  of(appId: string): AppUpstreams | undefined {
    return this.apps.get(appId);
  }

  /** Starts health checks (and DNS lookups) of every app. */
  start(): void {
    for (const app of this.apps.values()) app.set.start();
  }

  /** Stops the checks and cuts every upstream connection; requests in flight fail. */
  async close(): Promise<void> {
    for (const app of this.apps.values()) app.set.stop();
    await Promise.all([...this.apps.values()].map((a) => a.client.close()));
  }
}

function appUpstreams(config: LivewireConfig, deps: UpstreamsDeps, logger: Logger): AppUpstreams {
  const client = new UpstreamClient({
    timeoutMs: config.timeoutMs,
    maxQueued: config.maxQueued,
    queueTimeoutMs: config.queueTimeoutMs,
    ...(config.dns?.protocol === 'https' ? { servername: config.dns.name } : {}),
    logger,
  });
  const probeMs = Math.min(config.timeoutMs, config.healthIntervalMs);
  const set = new UpstreamSet(config, {
    probe: (origin) => client.probe(origin, config.healthPath, probeMs),
    forget: (origin) => client.forget(origin),
    ...(deps.resolve ? { resolve: deps.resolve } : {}),
    logger,
  });
  return { set, client };
}
