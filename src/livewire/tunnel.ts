/**
 * Livewire over WebSockets, server side: the `wiremesh:*` extension of a connection. A browser
 * sends Livewire's update requests (and Echo's channel authorization) over the Pusher socket it
 * already holds; the tunnel forwards each to the app's nearest healthy upstream (a Laravel
 * server of `livewire.backends`/`dns`, src/upstreams/) and sends the response back on the socket.
 * Protocol: docs/livewire-protocol.md. The tunnel admits requests; one Flight (flight.ts) runs
 * each; a connection's state is a TunnelConnection (connection-state.ts); the session sync
 * (session-sync.ts) is given to it.
 *
 * Guarantees: never an open proxy (only the app's upstreams, allowed paths, GET and POST); only a
 * page of the app's configured origins may tunnel; a `wiremesh:fallback` is sent only when no
 * upstream has run the request (one exception: a redirect to another origin), so the client may
 * safely send it over HTTP; after `wiremesh:abort` no frame of that request is sent, while its
 * upstream exchange runs to its end holding its slot; once the connection closes, the upstream
 * requests are aborted. Every exchange ends by `deadlineMs`.
 * Refusals without a usable id are PusherErrors, turned into `pusher:error` by the session.
 */
import type { AppConfig, LimitsConfig, LivewireConfig } from '../config/schema.js';
import type { Connection } from '../core/connection.js';
import type { ExtensionHandler } from '../core/session.js';
import { ErrorCodes, PusherError } from '../errors.js';
import { EpisodeLog } from '../limits/episode-log.js';
import type { Logger } from '../log/logger.js';
import * as frames from '../protocol/frames.js';
import type { AppUpstreams, Upstreams } from '../upstreams/upstreams.js';
import { TunnelConnection } from './connection-state.js';
import { ResponseBudgets } from './budget.js';
import { Flight, type TunnelMetrics } from './flight.js';
import { TrustedProxies } from './headers.js';
import { PathMatcher } from './paths.js';
import { Fallback, readId, readRequest, type TunnelRequest } from './request.js';
import type { SessionSync } from './session-sync.js';
import type { CookieReader } from './cookies.js';
import { laravelCookies } from './laravel-cookies.js';

export type { TunnelMetrics } from './flight.js';

export interface TunnelDeps {
  apps: readonly AppConfig[];
  /** The upstreams of every app with a `livewire` section (shared with the fragments). */
  upstreams: Pick<Upstreams, 'of'>;
  /** The sync tokens of this node's connections and the endpoint that spends them. */
  sessions: Pick<SessionSync, 'offer' | 'forget'>;
  limits: Pick<
    LimitsConfig,
    'maxFrameBytes' | 'maxBufferedBytes' | 'maxTunnelBufferedBytes' | 'maxTunnelBufferedBytesPerIp'
  >;
  metrics: TunnelMetrics;
  logger: Logger;
  now?: () => number;
}

/** The tunnel of one app. */
interface AppTunnel {
  config: LivewireConfig;
  paths: PathMatcher;
  upstreams: AppUpstreams;
  /** Page origins that may tunnel: publicUrl first, then allowedOrigins. */
  origins: string[];
  proxies: TrustedProxies;
  /** Reads the app's cookies, so that one re-set unchanged is not handed to the browser again (cookies.ts). */
  cookies: CookieReader | undefined;
}

/** Fallback codes a client's own request causes: logged at warn (rate-limited) with its address. */
const CLIENT_REFUSALS = new Set<frames.FallbackCode>(['not_allowed', 'busy', 'too_large']);

/** Page ages are counted up to this (any age over a session's lifetime already makes its cookies due). */
const MAX_PAGE_AGE_MS = 30 * 24 * 3600_000;

/** The connection events the tunnel handles (the server's extension router routes exactly these here). */
export const TUNNEL_EVENTS = ['wiremesh:request', 'wiremesh:abort', 'wiremesh:session'] as const;

export class LivewireTunnel implements ExtensionHandler {
  private readonly apps = new Map<string, AppTunnel>();
  private readonly conns = new Map<Connection, TunnelConnection>();
  private readonly now: () => number;
  /** Refusals a client caused, logged once per episode per client and code. */
  private readonly refusals: EpisodeLog;
  /** Why updates go over HTTP though the tunnel is on (a page's origin or host, no upstream yet): once per episode per origin. */
  private readonly onHttp: EpisodeLog;
  /** Text per frame: a frame (JSON-escaped, UTF-8) stays well under the socket's buffer limit. */
  private readonly frameChars: number;
  /** Per connection that tunnelled: its request budget (`livewire.maxRequestsPerSecond`, bursts of twice that). */
  private readonly rates = new Map<Connection, { tokens: number; at: number }>();
  /** Connections whose request being handled now is over that budget (set by ownsRate, read by request). */
  private readonly overRate = new Set<Connection>();
  /** Response bytes held in memory: per connection, per client address, for the node. */
  private readonly budgets: ResponseBudgets;

  constructor(private readonly deps: TunnelDeps) {
    this.now = deps.now ?? Date.now;
    this.refusals = new EpisodeLog({
      logger: deps.logger,
      summary: 'livewire refusals from one client ended',
      scopeField: 'code',
      maxKeys: 1024,
      now: this.now,
    });
    this.onHttp = new EpisodeLog({
      logger: deps.logger,
      summary: 'livewire updates kept going over HTTP',
      scopeField: 'code',
      quietMs: 60_000,
      maxKeys: 256,
      now: this.now,
    });
    this.budgets = new ResponseBudgets({
      node: deps.limits.maxTunnelBufferedBytes,
      perAddress: deps.limits.maxTunnelBufferedBytesPerIp,
    });
    this.frameChars = Math.max(1024, Math.min(128 * 1024, Math.floor(deps.limits.maxBufferedBytes / 8)));
    for (const app of deps.apps) {
      const config = app.livewire;
      const upstreams = deps.upstreams.of(app.id);
      if (!config || !upstreams) continue;
      this.apps.set(app.id, {
        config,
        paths: new PathMatcher(config.paths),
        upstreams,
        origins: [config.publicUrl, ...config.allowedOrigins],
        proxies: new TrustedProxies(config.trustedProxies),
        cookies: laravelCookies(config),
      });
      if (config.laravelKey === undefined) {
        deps.logger.info(
          'livewire: Laravel re-encrypts its session and XSRF-TOKEN cookies on every response; without ' +
            'livewire.laravelKey (APP_KEY) to compare them, each tunnelled update that re-sets them costs one ' +
            'POST /wiremesh/session from the page (see docs/livewire-protocol.md, Cookies and the session)',
          { appId: app.id },
        );
      }
    }
  }

  /** Aborts every request in flight (the upstreams' connections are closed by their owner). */
  close(): void {
    for (const conn of [...this.conns.keys()]) this.closed(conn);
  }

  /** Upstream response bytes this node holds in memory now (metrics). */
  bufferedBytes(): number {
    return this.budgets.held();
  }

  /** Core: keep the handshake (cookies, client address, Origin) of this app's connections. */
  wantsHandshake(app: AppConfig): boolean {
    return this.apps.has(app.id);
  }

  readonly events = TUNNEL_EVENTS;

  handle(conn: Connection, event: string, data: unknown): void {
    switch (event) {
      case 'wiremesh:request':
        return this.request(conn, data);
      case 'wiremesh:abort':
        return this.abort(conn, data);
      case 'wiremesh:session':
        return this.session(conn, data);
      default:
        throw new PusherError(ErrorCodes.INVALID_MESSAGE, `Unknown event: ${event.slice(0, 64)}`);
    }
  }

  /**
   * Core: a `wiremesh:request` within the connection's request budget is not counted against its
   * frame budget, so a page that legitimately sends many (fast `wire:model.live`, short
   * `wire:poll`) keeps its socket. One over the budget counts as a frame, and is answered with a
   * `busy` fallback: the client sends it over HTTP, nothing is lost. Aborts and session frames
   * always count as frames.
   */
  ownsRate(conn: Connection, event: string, now: number): boolean {
    const app = this.apps.get(conn.app.id);
    if (event !== 'wiremesh:request' || !app) return false;
    const rate = app.config.maxRequestsPerSecond;
    if (rate <= 0) return true;
    let bucket = this.rates.get(conn);
    if (!bucket) this.rates.set(conn, (bucket = { tokens: 2 * rate, at: now }));
    bucket.tokens = Math.min(2 * rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    this.overRate.add(conn);
    return false;
  }

  closed(conn: Connection): void {
    this.rates.delete(conn);
    this.overRate.delete(conn);
    const state = this.conns.get(conn);
    if (!state) return;
    this.conns.delete(conn);
    this.deps.sessions.forget(state);
    state.close();
  }

  private request(conn: Connection, data: unknown): void {
    const overRate = this.overRate.delete(conn);
    const { id, fields } = readId(data, 'wiremesh:request');
    const app = this.apps.get(conn.app.id);
    let req: TunnelRequest;
    let state: TunnelConnection | undefined;
    let page: URL;
    try {
      if (!app || !conn.handshake) throw new Fallback('disabled', 'The Livewire tunnel is not enabled for this app');
      state = this.state(conn, app);
      if (state.has(id)) {
        throw new PusherError(
          ErrorCodes.INVALID_MESSAGE,
          `wiremesh:request: a request with id ${id} is already in flight`,
        );
      }
      if (state.page === null)
        throw new Fallback(
          'not_allowed',
          "the page's Origin is not one of this app's allowed origins (livewire.publicUrl, allowedOrigins)",
        );
      page = state.page;
      if (overRate) {
        const rate = app.config.maxRequestsPerSecond;
        throw new Fallback(
          'busy',
          `this connection sends more than ${rate} requests per second (bursts of ${2 * rate})`,
        );
      }
      req = readRequest(id, fields);
      if (!app.paths.allows(req.pathname))
        throw new Fallback('not_allowed', `${req.pathname.slice(0, 200)} is not a tunnelled path`);
      if (req.bodyBytes > app.config.maxRequestBytes) {
        throw new Fallback('too_large', `the body is larger than ${app.config.maxRequestBytes} bytes`);
      }
      if (state.slots() >= app.config.maxInFlight) {
        throw new Fallback('busy', `this connection already has ${app.config.maxInFlight} requests in flight`);
      }
      const full = this.budgets.full(state.client, app.config.maxResponseBytes);
      if (full) {
        const whose = full.scope === 'node' ? 'this node holds' : "this client's connections hold";
        throw new Fallback('busy', `${whose} too many response bytes (${full.setting}: ${full.cap})`);
      }
    } catch (err) {
      if (!(err instanceof Fallback)) throw err;
      this.fallback(conn, id, err, state);
      return;
    }
    this.launch(conn, app, state, req, page);
  }

  private launch(conn: Connection, app: AppTunnel, state: TunnelConnection, req: TunnelRequest, page: URL): void {
    const flight = new Flight({
      appId: conn.app.id,
      request: req,
      connection: state,
      page,
      socket: conn.socket,
      config: app.config,
      upstreams: app.upstreams,
      budget: this.budgets.of(state, app.config.maxBufferedResponseBytes),
      frameChars: this.frameChars,
      roomBytes: this.deps.limits.maxBufferedBytes / 2,
      metrics: this.deps.metrics,
      logger: this.deps.logger.child({ appId: conn.app.id, socketId: conn.socketId, client: state.client }),
      now: this.now,
    });
    state.begin(req.id, flight);
    void flight.run().then((declined) => {
      state.end(req.id, flight);
      if (declined) this.fallback(conn, req.id, declined, state);
    });
  }

  private abort(conn: Connection, data: unknown): void {
    const { id } = readId(data, 'wiremesh:abort');
    // No frame of it goes out any more; the upstream exchange runs to its end (or the deadline)
    // and keeps its slot meanwhile, so abort-and-resend cannot pile work onto the upstream.
    // An unknown id is no error: its response may have crossed the abort on the wire.
    if (this.conns.get(conn)?.abandon(id))
      this.deps.logger.debug('livewire request aborted', { appId: conn.app.id, socketId: conn.socketId, id });
  }

  /**
   * `wiremesh:session`: the connection's sync token, and whether cookies can follow here at all.
   * `pageAgeMs` (optional: how long ago the page loaded) dates the browser's cookies of the handshake.
   */
  private session(conn: Connection, data: unknown): void {
    const app = this.apps.get(conn.app.id);
    if (!app || !conn.handshake)
      throw new PusherError(
        ErrorCodes.INVALID_MESSAGE,
        'wiremesh:session: the Livewire tunnel is not enabled for this app',
      );
    const state = this.state(conn, app);
    const pageAge = (data as { pageAgeMs?: unknown } | null)?.pageAgeMs;
    if (typeof pageAge === 'number' && pageAge >= 0)
      state.jar.heldSince(this.now() - Math.min(pageAge, MAX_PAGE_AGE_MS));
    const offer = this.deps.sessions.offer({
      target: state,
      handshake: conn.handshake,
      page: state.page,
      proxies: app.proxies,
    });
    if (!offer.sync) {
      // The page keeps every update on HTTP from here on: say why, and what to change.
      const origin = (conn.handshake.headers.origin ?? '').slice(0, 200);
      const foreign = state.page === null;
      this.onHttp.note(
        foreign ? 'origin_not_allowed' : 'cookies_cannot_follow',
        origin || 'no origin',
        "a page's Livewire updates go over HTTP, not this socket",
        {
          appId: conn.app.id,
          socketId: conn.socketId,
          origin,
          reason: offer.reason,
          fix: foreign
            ? `add ${origin || 'the page origin'} to apps[].livewire.publicUrl or allowedOrigins (now ${app.origins.join(', ')})`
            : "connect the page's socket to wiremesh on the page's own host (Echo wsHost / VITE_PUSHER_HOST = the host of APP_URL), e.g. through a proxy",
        },
      );
    }
    // Answered at once, before any later frame of the connection: the client's ping after its
    // question tells a server without the tunnel by the pong coming first.
    conn.socket.send(frames.tunnelSession({ ...offer, maxFrameBytes: this.deps.limits.maxFrameBytes }));
  }

  /** The one place a fallback becomes a frame. */
  private fallback(conn: Connection, id: string, f: Fallback, state: TunnelConnection | undefined): void {
    this.deps.metrics.fallbacks.inc({ app: conn.app.id, reason: f.code });
    const ctx = { appId: conn.app.id, socketId: conn.socketId, id, reason: f.message };
    if (CLIENT_REFUSALS.has(f.code)) {
      const client = state?.client ?? conn.handshake?.remoteAddress ?? 'unknown';
      const origin = conn.handshake?.headers.origin;
      this.refusals.note(f.code, client, 'livewire request refused', {
        ...ctx,
        ...(origin === undefined ? {} : { origin: origin.slice(0, 200) }),
      });
    } else if (f.code === 'backend_unavailable') {
      // E.g. wiremesh started before its upstream answers: HTTP until a health check passes.
      this.onHttp.note(f.code, conn.app.id, 'livewire requests go over HTTP: no upstream is healthy', {
        ...ctx,
        fix: 'start the Laravel upstream or correct livewire.backends; requests come back to the socket after the next passing health check (livewire.healthIntervalMs)',
      });
    } else {
      this.deps.logger.debug('livewire fallback', { ...ctx, code: f.code });
    }
    conn.socket.send(frames.tunnelFallback({ id, reason: f.message, code: f.code }));
  }

  private state(conn: Connection, app: AppTunnel): TunnelConnection {
    let state = this.conns.get(conn);
    if (!state) {
      state = new TunnelConnection(conn.handshake!, conn.socketId, app.origins, app.proxies, app.cookies);
      this.conns.set(conn, state);
    }
    return state;
  }
}
