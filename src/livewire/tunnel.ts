/**
 * Livewire over WebSockets, server side: the `wiremesh:*` extension of a connection. A browser
 * sends Livewire's update requests (and Echo's channel authorization) over the Pusher socket it
 * already holds; the tunnel forwards each to the app's nearest healthy backend and sends the
 * response back on the socket. Protocol: docs/livewire-protocol.md.
 *
 * Guarantees: never an open proxy (only the app's backends, allowed paths, GET and POST); a
 * `wiremesh:fallback` is sent only when no backend has run the request (one exception: a redirect
 * to another origin), so the client may safely send it over HTTP; after `wiremesh:abort`, or once
 * the connection closes, no frame of that request is sent and the backend request is aborted.
 * Refusals without a usable id are PusherErrors, turned into `pusher:error` by the session.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppConfig, LimitsConfig, LivewireConfig } from '../config/schema.js';
import type { Connection } from '../core/connection.js';
import type { ExtensionHandler } from '../core/session.js';
import { ErrorCodes, PusherError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Counter, Histogram } from '../metrics/registry.js';
import * as frames from '../protocol/frames.js';
import { BackendSet } from './backends.js';
import { BackendClient } from './client.js';
import { CookieJar } from './cookies.js';
import { runExchange, type Exchange, type ExchangeOutput } from './exchange.js';
import { connectionHeaders, pageOrigin } from './headers.js';
import { PathMatcher } from './paths.js';
import { Fallback, readId, readRequest, type TunnelRequest } from './request.js';

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
  backends: BackendSet;
  client: BackendClient;
}

/** What the tunnel keeps for one connection, from its first request until it closes. */
interface ConnTunnel {
  jar: CookieJar;
  /** Null when the page's Origin is not the app's publicUrl. */
  page: URL | null;
  headers: Record<string, string>;
  inFlight: Map<string, AbortController>;
}

export class LivewireTunnel implements ExtensionHandler {
  private readonly apps = new Map<string, AppTunnel>();
  private readonly conns = new Map<Connection, ConnTunnel>();
  private readonly now: () => number;
  /** Text per frame: a frame (JSON-escaped, UTF-8) stays well under the socket's buffer limit. */
  private readonly frameChars: number;

  constructor(private readonly deps: TunnelDeps) {
    this.now = deps.now ?? Date.now;
    this.frameChars = Math.max(1024, Math.min(128 * 1024, Math.floor(deps.limits.maxBufferedBytes / 8)));
    for (const app of deps.apps) {
      const config = app.livewire;
      if (!config) continue;
      const logger = deps.logger.child({ appId: app.id });
      const client = new BackendClient({
        timeoutMs: config.timeoutMs,
        ...(config.dns?.protocol === 'https' ? { servername: config.dns.name } : {}),
        logger,
      });
      const probeMs = Math.min(config.timeoutMs, config.healthIntervalMs);
      const backends = new BackendSet(config, {
        probe: (origin) => client.probe(origin, config.healthPath, probeMs),
        forget: (origin) => client.forget(origin),
        ...(deps.resolve ? { resolve: deps.resolve } : {}),
        logger,
      });
      this.apps.set(app.id, { config, paths: new PathMatcher(config.paths), backends, client });
    }
  }

  start(): void {
    for (const app of this.apps.values()) app.backends.start();
  }

  /** Aborts every request in flight and closes the backend connections. */
  async close(): Promise<void> {
    for (const conn of [...this.conns.keys()]) this.closed(conn);
    for (const app of this.apps.values()) app.backends.stop();
    await Promise.all([...this.apps.values()].map((a) => a.client.close()));
  }

  /** The app's upstream selection and HTTP client, for the other part that calls the app (src/fragments/upstream.ts). */
  upstreamsOf(appId: string): Pick<AppTunnel, 'backends' | 'client'> | undefined {
    return this.apps.get(appId);
  }

  /** Core: keep the handshake (cookies, client address, Origin) of this app's connections. */
  wantsHandshake(app: AppConfig): boolean {
    return this.apps.has(app.id);
  }

  handle(conn: Connection, event: string, data: unknown): void {
    switch (event) {
      case 'wiremesh:request':
        return this.request(conn, data);
      case 'wiremesh:abort':
        return this.abort(conn, data);
      default:
        throw new PusherError(ErrorCodes.INVALID_MESSAGE, `Unknown event: ${event.slice(0, 64)}`);
    }
  }

  closed(conn: Connection): void {
    const state = this.conns.get(conn);
    if (!state) return;
    this.conns.delete(conn);
    for (const controller of state.inFlight.values()) controller.abort();
    state.inFlight.clear();
  }

  private request(conn: Connection, data: unknown): void {
    const { id, fields } = readId(data, 'wiremesh:request');
    const app = this.apps.get(conn.app.id);
    let req: TunnelRequest;
    let state: ConnTunnel;
    try {
      if (!app || !conn.handshake) throw new Fallback('disabled', 'The Livewire tunnel is not enabled for this app');
      state = this.state(conn, app.config);
      if (state.inFlight.has(id)) {
        throw new PusherError(ErrorCodes.INVALID_MESSAGE, `wiremesh:request: a request with id ${id} is already in flight`);
      }
      req = readRequest(id, fields);
      if (!app.paths.allows(req.pathname)) throw new Fallback('not_allowed', `${req.pathname} is not a tunnelled path`);
      if (state.page === null) throw new Fallback('not_allowed', "the page's Origin is not this app's publicUrl");
      if (req.bodyBytes > app.config.maxRequestBytes) {
        throw new Fallback('too_large', `the body is larger than ${app.config.maxRequestBytes} bytes`);
      }
      if (state.inFlight.size >= app.config.maxInFlight) {
        throw new Fallback('busy', `this connection already has ${app.config.maxInFlight} requests in flight`);
      }
    } catch (err) {
      if (!(err instanceof Fallback)) throw err;
      this.fallback(conn, id, err);
      return;
    }
    this.launch(conn, app, state, req, state.page);
  }

  private launch(conn: Connection, app: AppTunnel, state: ConnTunnel, req: TunnelRequest, page: URL): void {
    const controller = new AbortController();
    state.inFlight.set(req.id, controller);
    const startedAt = this.now();
    const logger = this.deps.logger.child({ appId: conn.app.id, socketId: conn.socketId });
    let responded = false;
    const live = (): boolean => !controller.signal.aborted;
    const send = (frame: string): boolean => {
      if (!live()) return false;
      if (conn.socket.send(frame) === 'sent') return true;
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
        logger.debug('livewire request', { id: req.id, method: req.method, path: req.pathname, status: r.status, ms: seconds * 1000 });
        return send(frames.tunnelResponse({ id: req.id, ...r }));
      },
      chunk: (c) => send(frames.tunnelChunk({ id: req.id, ...c })),
      room: () => this.room(conn, controller, app.config.timeoutMs, logger),
    };
    const exchange: Exchange = {
      request: req,
      jar: state.jar,
      page,
      headers: state.headers,
      signal: controller.signal,
      frameChars: this.frameChars,
      out,
    };
    void this.run(conn, app, exchange, logger, () => responded).finally(() => {
      if (state.inFlight.get(req.id) === controller) state.inFlight.delete(req.id);
    });
  }

  /** Runs one exchange to its end. Never rejects: whatever goes wrong is answered on the socket. */
  private async run(conn: Connection, app: AppTunnel, x: Exchange, logger: Logger, responded: () => boolean): Promise<void> {
    try {
      await runExchange({ config: app.config, backends: app.backends, client: app.client, logger }, x);
    } catch (err) {
      if (x.signal.aborted) return;
      if (err instanceof Fallback && !responded()) return this.fallback(conn, x.request.id, err);
      logger.error('livewire exchange failed', { id: x.request.id, path: x.request.pathname, err });
      if (responded()) {
        x.out.chunk({ chunk: '', done: true, error: 'Tunnel error' });
        return;
      }
      const headers: Array<[string, string]> = [['content-type', 'text/plain; charset=utf-8']];
      x.out.response({ status: 502, statusText: 'Bad Gateway', headers, url: x.page.href, redirected: false, body: 'Tunnel error', done: true, setCookies: [] });
    }
  }

  private abort(conn: Connection, data: unknown): void {
    const { id } = readId(data, 'wiremesh:abort');
    const state = this.conns.get(conn);
    const controller = state?.inFlight.get(id);
    // An unknown id is no error: its response may have crossed the abort on the wire.
    if (!state || !controller) return;
    state.inFlight.delete(id);
    controller.abort();
    this.deps.logger.debug('livewire request aborted', { appId: conn.app.id, socketId: conn.socketId, id });
  }

  /** The one place a fallback becomes a frame. */
  private fallback(conn: Connection, id: string, f: Fallback): void {
    this.deps.metrics.fallbacks.inc({ app: conn.app.id, reason: f.code });
    this.deps.logger.debug('livewire fallback', { appId: conn.app.id, socketId: conn.socketId, id, code: f.code, reason: f.message });
    conn.socket.send(frames.tunnelFallback({ id, reason: f.message, code: f.code }));
  }

  private state(conn: Connection, config: LivewireConfig): ConnTunnel {
    let state = this.conns.get(conn);
    if (!state) {
      const handshake = conn.handshake!;
      const page = pageOrigin(handshake, config.publicUrl);
      state = {
        jar: CookieJar.fromHeader(handshake.headers.cookie),
        page,
        headers: page ? connectionHeaders(handshake, conn.socketId, page) : {},
        inFlight: new Map(),
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
