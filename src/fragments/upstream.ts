/**
 * What fragments need from the app's Laravel servers: the nearest healthy one, and one HTTP
 * request to it. The Livewire tunnel's upstream selection (health checks, DNS, nearest first) is
 * the one source of truth; `tunnelUpstreams` is the only place that knows the tunnel's types.
 */
import type { Dispatcher } from 'undici';
import { isConnectError } from '../livewire/upstream-client.js';
import type { LivewireTunnel } from '../livewire/tunnel.js';

export interface UpstreamPost {
  path: string;
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

export interface FragmentUpstreams {
  /** Healthy upstream origins of the app, nearest first (empty: none is healthy). */
  healthy(appId: string): Promise<string[]>;
  post(appId: string, origin: string, req: UpstreamPost): Promise<Dispatcher.ResponseData>;
  /** `origin` could not be reached: skip it until its health check passes. */
  markDown(appId: string, origin: string, reason: string): void;
  /** True when `err` (from `post`) means the request never reached the upstream: another may be tried. */
  unreachable(err: unknown): boolean;
}

/** The tunnel's upstreams of every app that has a Livewire section. */
export function tunnelUpstreams(tunnel: LivewireTunnel): FragmentUpstreams {
  const of = (appId: string) => {
    const u = tunnel.upstreamsOf(appId);
    if (!u) throw new Error(`app ${appId} has no Livewire upstreams`);
    return u;
  };
  return {
    healthy: (appId) => of(appId).upstreams.healthy(),
    post: (appId, origin, req) => of(appId).client.request(origin, { method: 'POST', ...req }),
    markDown: (appId, origin, reason) => of(appId).upstreams.markDown(origin, reason),
    unreachable: isConnectError,
  };
}
