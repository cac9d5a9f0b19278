/**
 * What fragments need from the app's Laravel servers: the nearest healthy one, and one HTTP
 * request to it. The app's upstreams (src/upstreams/: health checks, DNS, nearest first) are the
 * one source of truth, shared with the Livewire tunnel; `fragmentUpstreams` is the only place here
 * that knows their types.
 */
import type { Dispatcher } from 'undici';
import { isConnectError } from '../upstreams/client.js';
import type { AppUpstreams, Upstreams } from '../upstreams/upstreams.js';

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

/** The upstreams of every app that has a Livewire section, as fragments use them. */
export function fragmentUpstreams(upstreams: Pick<Upstreams, 'of'>): FragmentUpstreams {
  const of = (appId: string): AppUpstreams => {
    const u = upstreams.of(appId);
    if (!u) throw new Error(`app ${appId} has no Livewire upstreams`);
    return u;
  };
  return {
    healthy: (appId) => of(appId).set.healthy(),
    post: (appId, origin, req) => of(appId).client.request(origin, { method: 'POST', ...req }),
    markDown: (appId, origin, reason) => of(appId).set.markDown(origin, reason),
    unreachable: isConnectError,
  };
}
