/**
 * Livewire over WebSockets, server side: the `wiremesh:*` extension of a connection. A browser
 * sends Livewire's update requests (and Echo's channel authorization) over the Pusher socket it
 * already holds; the tunnel forwards each to the app's nearest healthy upstream (a Laravel
 * backend of `livewire.backends`/`dns`) and sends the response back on the socket. Protocol:
 * docs/livewire-protocol.md.
 *
 * Guarantees: never an open proxy (only the app's upstreams, allowed paths, GET and POST); only a
 * page of the app's configured origins may tunnel; a `wiremesh:fallback` is sent only when no
 * upstream has run the request (one exception: a redirect to another origin), so the client may
 * safely send it over HTTP; after `wiremesh:abort` no frame of that request is sent, while its
 * upstream exchange runs to its end holding its slot; once the connection closes, the upstream
 * requests are aborted. Every exchange ends by `deadlineMs`.
 * Refusals without a usable id are PusherErrors, turned into `pusher:error` by the session.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppConfig, LimitsConfig, LivewireConfig } from '../config/schema.js';
import type { Connection } from '../core/connection.js';
import type { ExtensionHandler } from '../core/session.js';
import { ErrorCodes, PusherError } from '../errors.js';
import { EpisodeLog } from '../limits/episode-log.js';
import type { Logger } from '../log/logger.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import type { Counter, Histogram } from '../metrics/registry.js';
import * as frames from '../protocol/frames.js';
import { CookieJar } from './cookies.js';
import { runExchange, type ByteBudget, type Exchange, type ExchangeOutput } from './exchange.js';
import { clientOf, connectionHeaders, pageOrigin, TrustedProxies } from './headers.js';
import { PathMatcher } from './paths.js';
import { failureChunk, failureResponse, UpstreamFailure } from './replies.js';
import { Fallback, readId, readRequest, type TunnelRequest } from './request.js';
import { cookiesCanFollow, SESSION_PATH, sessionSync } from './session-sync.js';
import { UpstreamClient } from './upstream-client.js';
import { UpstreamSet } from './upstreams.js';

export interface TunnelMetrics {
  requests: Pick<Counter, 'inc'>;
  fallbacks: Pick<Counter, 'inc'>;
  latency: Pick<Histogram, 'observe'>;
}

export interface TunnelDeps {
  apps: readonly AppConfig[];
  limits: Pick<LimitsConfig, 'maxBufferedBytes'>;
  metrics: TunnelMetrics;
  logger: Logger;
  /** DNS answers for `livewire.dns.name` (tests); default node:dns lookup. */
  resolve?: (name: string) => Promise<string[]>;
  now?: () => number;
}

/** The tunnel of one app. */
interface AppTunnel {
  config: LivewireConfig;
  paths: PathMatcher;
  upstreams: UpstreamSet;
  client: UpstreamClient;
  /** Page origins that may tunnel: publicUrl first, then allowedOrigins. */
  origins: string[];
  proxies: TrustedProxies;
}

/** One request between its frame and the end of its upstream exchange. */
interface Flight {
  /** Aborts the upstream request (connection closed, deadline). */
  controller: AbortController;
  /** False after `wiremesh:abort`: no frame goes out, but the slot is held until the upstream exchange ends. */
  wanted: boolean;
}

/** What the tunnel keeps for one connection, from its first request until it closes. */
interface ConnTunnel {
  jar: CookieJar;
  /** The allowed origin the handshake's Origin named; null when it named none (no tunnelling). */
  page: URL | null;
  /** The client's address (through trusted proxies), for logs. */
  client: string;
  headers: Record<string, string>;
  inFlight: Map<string, Flight>;
  /** Requests the client aborted whose upstream exchange has not ended: they keep their slots. */
  abandoned: Set<Flight>;
  /** Response bytes held in memory for this connection's requests. */
  buffered: number;
  /** The token of its session sync (session-sync.ts), once the client asked for one. */
  token: string | null;
  origins: readonly string[];
}

/** Fallback codes a client's own request causes: logged at warn (rate-limited) with its address. */
const CLIENT_REFUSALS = new Set<frames.FallbackCode>(['not_allowed', 'busy', 'too_large']);

/** The connection events the tunnel handles (the server's extension router routes exactly these here). */
export const TUNNEL_EVENTS = ['wiremesh:request', 'wiremesh:abort', 'wiremesh:session'] as const;

export class LivewireTunnel implements ExtensionHandler {
  private readonly apps = new Map<string, AppTunnel>();
  private readonly conns = new Map<Connection, ConnTunnel>();
  /** Session sync tokens of the open connections. */
  private readonly tokens = new Map<string, ConnTunnel>();
  private readonly now: () => number;
  /** Refusals a client caused, logged once per episode per client and code. */
  private readonly refusals: EpisodeLog;
  /** Text per frame: a frame (JSON-escaped, UTF-8) stays well under the socket's buffer limit. */
  private readonly frameChars: number;
  /** Per connection that tunnelled: its request budget (`livewire.maxRequestsPerSecond`, bursts of twice that). */
  private readonly rates = new Map<Connection, { tokens: number; at: number }>();
  /** Connections whose request being handled now is over that budget (set by ownsRate, read by request). */
  private readonly overRate = new Set<Connection>();

  constructor(private readonly deps: TunnelDeps) {
    this.now = deps.now ?? Date.now;
    this.refusals = new EpisodeLog({
      logger: deps.logger,
      summary: 'livewire refusals from one client ended',
      scopeField: 'code',
      maxKeys: 1024,
      now: this.now,
    });
    this.frameChars = Math.max(1024, Math.min(128 * 1024, Math.floor(deps.limits.maxBufferedBytes / 8)));
    for (const app of deps.apps) {
      const config = app.livewire;
      if (!config) continue;
      const logger = deps.logger.child({ appId: app.id });
      const client = new UpstreamClient({
        timeoutMs: config.timeoutMs,
        maxQueued: config.maxQueued,
        queueTimeoutMs: config.queueTimeoutMs,
        ...(config.dns?.protocol === 'https' ? { servername: config.dns.name } : {}),
        logger,
      });
      const probeMs = Math.min(config.timeoutMs, config.healthIntervalMs);
      const upstreams = new UpstreamSet(config, {
        probe: (origin) => client.probe(origin, config.healthPath, probeMs),
        forget: (origin) => client.forget(origin),
        ...(deps.resolve ? { resolve: deps.resolve } : {}),
        logger,
      });
      const origins = [config.publicUrl, ...config.allowedOrigins];
      this.apps.set(app.id, {
        config,
        paths: new PathMatcher(config.paths),
        upstreams,
        client,
        origins,
        proxies: new TrustedProxies(config.trustedProxies),
      });
    }
  }

  start(): void {
    for (const app of this.apps.values()) app.upstreams.start();
  }

  /** Aborts every request in flight and closes the upstream connections. */
  async close(): Promise<void> {
    for (const conn of [...this.conns.keys()]) this.closed(conn);
    for (const app of this.apps.values()) app.upstreams.stop();
    await Promise.all([...this.apps.values()].map((a) => a.client.close()));
  }

  /** The app's upstream selection and HTTP client, for the other part that calls the app (src/fragments/upstream.ts). */
  upstreamsOf(appId: string): Pick<AppTunnel, 'upstreams' | 'client'> | undefined {
    return this.apps.get(appId);
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
        return this.session(conn);
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
    if (state.token !== null) this.tokens.delete(state.token);
    for (const flight of [...state.inFlight.values(), ...state.abandoned]) {
      flight.wanted = false;
      flight.controller.abort();
    }
    state.inFlight.clear();
    state.abandoned.clear();
  }

  private request(conn: Connection, data: unknown): void {
    const overRate = this.overRate.delete(conn);
    const { id, fields } = readId(data, 'wiremesh:request');
    const app = this.apps.get(conn.app.id);
    let req: TunnelRequest;
    let state: ConnTunnel | undefined;
    let page: URL;
    try {
      if (!app || !conn.handshake) throw new Fallback('disabled', 'The Livewire tunnel is not enabled for this app');
      state = this.state(conn, app);
      if (state.inFlight.has(id)) {
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
      const slots = state.inFlight.size + state.abandoned.size;
      if (slots >= app.config.maxInFlight) {
        throw new Fallback('busy', `this connection already has ${app.config.maxInFlight} requests in flight`);
      }
    } catch (err) {
      if (!(err instanceof Fallback)) throw err;
      this.fallback(conn, id, err, state);
      return;
    }
    this.launch(conn, app, state, req, page);
  }

  private launch(conn: Connection, app: AppTunnel, state: ConnTunnel, req: TunnelRequest, page: URL): void {
    const flight: Flight = { controller: new AbortController(), wanted: true };
    const { controller } = flight;
    state.inFlight.set(req.id, flight);
    const startedAt = this.now();
    const logger = this.deps.logger.child({ appId: conn.app.id, socketId: conn.socketId, client: state.client });
    const deadline = setTimeout(() => {
      controller.abort(
        new UpstreamFailure(
          504,
          'The backend did not answer in time',
          `the exchange ran past deadlineMs (${app.config.deadlineMs})`,
        ),
      );
    }, app.config.deadlineMs);
    let responded = false;
    // Frames go out while the client wants them; after a deadline abort, the failure reply still does.
    const live = (): boolean => flight.wanted;
    const send = (frame: string): boolean => {
      if (!flight.wanted) return false;
      if (conn.socket.send(frame) === 'sent') return true;
      flight.wanted = false;
      controller.abort();
      return false;
    };
    const out: ExchangeOutput = {
      response: (r) => {
        if (!live() || responded) return false;
        responded = true;
        const seconds = (this.now() - startedAt) / 1000;
        this.deps.metrics.requests.inc({ app: conn.app.id, status: String(r.status) });
        this.deps.metrics.latency.observe({ app: conn.app.id }, seconds);
        logger.debug('livewire request', {
          id: req.id,
          method: req.method,
          path: req.pathname,
          status: r.status,
          ms: seconds * 1000,
        });
        return send(frames.tunnelResponse({ id: req.id, ...r }));
      },
      chunk: (c) => live() && send(frames.tunnelChunk({ id: req.id, ...c })),
      fail: (f, url, setCookies) => this.fail(out, () => responded, f, url, setCookies),
      wanted: () => flight.wanted,
      room: () => this.room(conn, controller, app.config.timeoutMs, logger),
    };
    const budget: ByteBudget = {
      take: (bytes) => {
        if (state.buffered + bytes > app.config.maxBufferedResponseBytes) return false;
        state.buffered += bytes;
        return true;
      },
      give: (bytes) => {
        state.buffered -= bytes;
      },
    };
    const exchange: Exchange = {
      request: req,
      jar: state.jar,
      page,
      headers: state.headers,
      signal: controller.signal,
      frameChars: this.frameChars,
      budget,
      out,
    };
    void this.run(conn, app, exchange, state, logger, () => responded).finally(() => {
      clearTimeout(deadline);
      if (state.inFlight.get(req.id) === flight) state.inFlight.delete(req.id);
      state.abandoned.delete(flight);
    });
  }

  /** Runs one exchange to its end. Never rejects: whatever goes wrong is answered on the socket. */
  private async run(
    conn: Connection,
    app: AppTunnel,
    x: Exchange,
    state: ConnTunnel,
    logger: Logger,
    responded: () => boolean,
  ): Promise<void> {
    try {
      await runExchange({ config: app.config, upstreams: app.upstreams, client: app.client, logger }, x);
    } catch (err) {
      if (!x.out.wanted()) return;
      if (err instanceof Fallback && !responded()) return this.fallback(conn, x.request.id, err, state);
      logger.error('livewire exchange failed', { id: x.request.id, path: x.request.pathname, err });
      x.out.fail(new UpstreamFailure(502, 'Tunnel error'), new URL(x.request.path, x.page).href, []);
    }
  }

  /** The one place a failure after the request may have run becomes a frame (builders in replies.ts). */
  private fail(
    out: ExchangeOutput,
    responded: () => boolean,
    f: UpstreamFailure,
    url: string,
    setCookies: readonly string[],
  ): void {
    if (responded()) out.chunk(failureChunk(f));
    else out.response(failureResponse(f, url, setCookies));
  }

  private abort(conn: Connection, data: unknown): void {
    const { id } = readId(data, 'wiremesh:abort');
    const state = this.conns.get(conn);
    const flight = state?.inFlight.get(id);
    // An unknown id is no error: its response may have crossed the abort on the wire.
    if (!state || !flight) return;
    // No frame of it goes out any more; the upstream exchange runs to its end (or the deadline)
    // and keeps its slot meanwhile, so abort-and-resend cannot pile work onto the upstream.
    state.inFlight.delete(id);
    flight.wanted = false;
    state.abandoned.add(flight);
    this.deps.logger.debug('livewire request aborted', { appId: conn.app.id, socketId: conn.socketId, id });
  }

  /** `/wiremesh/*` over HTTP: the session sync. */
  http(req: HttpRequest): HttpResponse {
    if (req.path !== SESSION_PATH)
      return { status: 404, headers: { 'content-type': 'application/json' }, body: '{"error":"Not found"}' };
    const res = sessionSync(req, (token) => this.tokens.get(token));
    if (res.status !== 200) {
      const origin = req.headers.origin;
      this.refusals.note(`session_${res.status}`, req.remoteAddress, 'livewire session sync refused', {
        body: String(res.body).slice(0, 100),
        ...(origin === undefined ? {} : { origin: origin.slice(0, 200) }),
      });
    }
    return res;
  }

  /** `wiremesh:session`: the connection's sync token, and whether cookies can follow here at all. */
  private session(conn: Connection): void {
    const app = this.apps.get(conn.app.id);
    if (!app || !conn.handshake)
      throw new PusherError(
        ErrorCodes.INVALID_MESSAGE,
        'wiremesh:session: the Livewire tunnel is not enabled for this app',
      );
    const state = this.state(conn, app);
    if (state.page === null) {
      conn.socket.send(
        frames.tunnelSession({
          token: '',
          sync: false,
          reason: "the page's Origin is not one of this app's allowed origins",
          path: SESSION_PATH,
        }),
      );
      return;
    }
    const { sync, reason } = cookiesCanFollow(conn.handshake, state.page, app.proxies);
    if (sync && state.token === null) {
      state.token = randomBytes(24).toString('base64url');
      this.tokens.set(state.token, state);
    }
    conn.socket.send(frames.tunnelSession({ token: sync ? state.token! : '', sync, reason, path: SESSION_PATH }));
  }

  /** The one place a fallback becomes a frame. */
  private fallback(conn: Connection, id: string, f: Fallback, state: ConnTunnel | undefined): void {
    this.deps.metrics.fallbacks.inc({ app: conn.app.id, reason: f.code });
    const ctx = { appId: conn.app.id, socketId: conn.socketId, id, reason: f.message };
    if (CLIENT_REFUSALS.has(f.code)) {
      const client = state?.client ?? conn.handshake?.remoteAddress ?? 'unknown';
      const origin = conn.handshake?.headers.origin;
      this.refusals.note(f.code, client, 'livewire request refused', {
        ...ctx,
        ...(origin === undefined ? {} : { origin: origin.slice(0, 200) }),
      });
    } else {
      this.deps.logger.debug('livewire fallback', { ...ctx, code: f.code });
    }
    conn.socket.send(frames.tunnelFallback({ id, reason: f.message, code: f.code }));
  }

  private state(conn: Connection, app: AppTunnel): ConnTunnel {
    let state = this.conns.get(conn);
    if (!state) {
      const handshake = conn.handshake!;
      const page = pageOrigin(handshake, app.origins);
      state = {
        jar: CookieJar.fromHeader(handshake.headers.cookie),
        page,
        client: clientOf(handshake, app.proxies),
        headers: page ? connectionHeaders(handshake, conn.socketId, page, app.proxies) : {},
        inFlight: new Map(),
        abandoned: new Set(),
        buffered: 0,
        token: null,
        origins: app.origins,
      };
      this.conns.set(conn, state);
    }
    return state;
  }

  /** Waits while the socket's queue is over half its limit; gives up (aborting) after timeoutMs. */
  private async room(conn: Connection, controller: AbortController, timeoutMs: number, logger: Logger): Promise<void> {
    const limit = this.deps.limits.maxBufferedBytes / 2;
    const deadline = this.now() + timeoutMs;
    while (conn.socket.bufferedAmount() > limit && !controller.signal.aborted) {
      if (this.now() > deadline) {
        logger.warn('livewire client too slow to read a response; aborted', { limit });
        controller.abort();
        return;
      }
      await sleep(5);
    }
  }
}
