/**
 * The HTTP side of the one port: the Pusher HTTP API (signed), plus /health, /ready and /metrics.
 * One controller per endpoint; errors become responses in http/respond.ts.
 */
import type { AppDirectory } from '../apps/directory.js';
import type { ChannelQueries, EventPublisher } from '../core/types.js';
import { httpError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { AppConfig } from '../config/schema.js';
import type { HttpHead, HttpRequest, HttpResponse } from '../transport/types.js';
import { parseQuery, verifyApiRequest, type ApiQuery } from './api-auth.js';
import type { MetricsAccess } from './metrics-access.js';
import { EpisodeLog } from '../limits/episode-log.js';
import { refusalReason, type RefusalReason } from './refusal-reason.js';
import type { Controller, FragmentRefresher } from './context.js';
import { channelUsers, listChannels, showChannel, terminateConnections } from './controllers/channels.js';
import { triggerBatch, triggerEvent } from './controllers/events.js';
import { refreshFragment } from './controllers/fragments.js';
import { errorResponse, json, text } from './respond.js';
import { VERSION, VERSION_HEADER } from '../version.js';

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  endpoint: string;
  controller: Controller;
}

function route(method: string, path: string, endpoint: string, controller: Controller): Route {
  const names: string[] = [];
  const pattern = new RegExp('^' + path.replace(/\{(\w+)\}/g, (_, n: string) => (names.push(n), '([^/]+)')) + '/?$');
  return { method, pattern, names, endpoint, controller };
}

const ROUTES: Route[] = [
  route('POST', '/apps/{app}/events', 'events', triggerEvent),
  route('POST', '/apps/{app}/batch_events', 'batch_events', triggerBatch),
  route('GET', '/apps/{app}/channels', 'channels', listChannels),
  route('GET', '/apps/{app}/channels/{channel}', 'channel', showChannel),
  route('GET', '/apps/{app}/channels/{channel}/users', 'users', channelUsers),
  route('POST', '/apps/{app}/users/{user}/terminate_connections', 'terminate_connections', terminateConnections),
  route('POST', '/apps/{app}/fragments/{name}/refresh', 'fragment_refresh', refreshFragment),
];

export interface HttpApiDeps {
  apps: AppDirectory;
  queries: ChannelQueries;
  publisher: EventPublisher;
  metrics: ServerMetrics;
  logger: Logger;
  maxChannelNameLength: number;
  /** Bodies larger than this are refused (413) from Content-Length, or as soon as the count passes it. */
  maxRequestBodyBytes: number;
  /** Who may read `/metrics` here (http/metrics-access.ts); absent = nobody (404). */
  metricsAccess?: MetricsAccess;
  /** The `/metrics` text (default: this process's registry). */
  renderMetrics?: () => Promise<string>;
  isReady: () => boolean;
  /** `/wiremesh/*` (the Livewire tunnel's session sync), when the tunnel is on. */
  extension?: (req: HttpRequest) => HttpResponse;
  now?: () => number;
  fragments?: FragmentRefresher;
}

/** A request that passed the checks of its head: route, app, signature (all but body_md5). */
interface Admitted {
  r: Route;
  params: Record<string, string>;
  app: AppConfig;
  query: ApiQuery;
}

/**
 * The answer to a signed API call that checked out names the server and its version (`wiremesh
 * doctor` reads it): only holders of an app's secret learn the version; no other response says
 * what or which server this is.
 */
const SIGNED_HEADERS = { 'content-type': 'application/json', [VERSION_HEADER]: VERSION };

/** The label for a request whose app is not known: one series for all of them, however many ids are made up. */
export const UNKNOWN_APP_LABEL = 'unknown';

export class HttpApi {
  private readonly now: () => number;
  /**
   * HTTP refusals logged once per episode per client address (all reasons in one episode): the
   * first at once, a summary after 60 s without a refusal from that address.
   */
  private readonly refusals: EpisodeLog;
  constructor(private readonly deps: HttpApiDeps) {
    this.now = deps.now ?? Date.now;
    this.refusals = new EpisodeLog({
      logger: deps.logger,
      summary: 'http refusals from one client ended',
      quietMs: 60_000,
      maxKeys: 10_000,
    });
  }

  async handle(req: HttpRequest): Promise<HttpResponse> {
    const extension = this.extensionOf(req.path);
    if (extension) return extension(req);
    switch (req.path) {
      case '/':
      case '/health':
        return text('OK');
      case '/ready':
        return this.deps.isReady() ? text('OK') : text('Draining', 503);
      case '/metrics':
        if (this.deps.metricsAccess) return this.metrics(req, this.deps.metricsAccess);
    }
    return this.api(req);
  }

  /** Before the body is read (TransportHooks.admitHttp): refuses what its head already fails. */
  admit(head: HttpHead): HttpResponse | null {
    if (FIXED_PATHS.has(head.path)) return null;
    // The tunnel's session sync checks its own origin and token (its body is small and bounded).
    if (this.extensionOf(head.path)) return null;
    const appId: AppLabel = { label: UNKNOWN_APP_LABEL, unknown: false };
    try {
      this.check(head, null, appId);
      return null;
    } catch (err) {
      return this.refuse(head, err, appId, endpointOf(head));
    }
  }

  /** What answers `path` instead of the API: the extension for `/wiremesh/*` when it is on. */
  private extensionOf(path: string): ((req: HttpRequest) => HttpResponse) | undefined {
    return path.startsWith('/wiremesh/') ? this.deps.extension : undefined;
  }

  /**
   * The most body bytes a request may have (TransportHooks.bodyLimit): none on the fixed paths,
   * a session token on `/wiremesh/*`, `maxRequestBodyBytes` on the API.
   */
  bodyLimit(head: HttpHead): number {
    if (FIXED_PATHS.has(head.path)) return 0;
    if (head.path.startsWith('/wiremesh/')) return EXTENSION_BODY_BYTES;
    return this.deps.maxRequestBodyBytes;
  }

  /** A body over the request's limit (bodyLimit): declared, or grown past it while read. */
  tooLarge(head: HttpHead): HttpResponse {
    const max = Math.min(this.bodyLimit(head), this.deps.maxRequestBodyBytes);
    const err = httpError(
      413,
      max === 0 ? 'This path takes no request body' : `Request body is larger than ${max} bytes`,
    );
    const app = this.deps.apps.byId(appIdOf(head) ?? '');
    // Counted as too_large whatever the path: the length is what was refused.
    return this.refuse(head, err, { label: app?.id ?? UNKNOWN_APP_LABEL, unknown: false }, endpointOf(head));
  }

  /** A `/metrics` request without the right token (here or on the metrics listener). */
  metricsRefused(address: string): void {
    this.refused(address, 'unauthorized', 401, 'metrics token missing or wrong');
  }

  private async metrics(req: HttpRequest, access: MetricsAccess): Promise<HttpResponse> {
    const refusal = access.refuse(req);
    if (refusal !== null) {
      this.metricsRefused(req.remoteAddress);
      return refusal;
    }
    const body = this.deps.renderMetrics ? await this.deps.renderMetrics() : this.deps.metrics.registry.render();
    return text(body, 200, 'text/plain; version=0.0.4');
  }

  private api(req: HttpRequest): HttpResponse | Promise<HttpResponse> {
    const appId: AppLabel = { label: UNKNOWN_APP_LABEL, unknown: false };
    let endpoint = 'unknown';
    try {
      const { r, params, app, query } = this.check(req, req.body, appId);
      endpoint = r.endpoint;
      const body = r.controller({
        app,
        params,
        query: query.params,
        body: req.body,
        queries: this.deps.queries,
        publisher: this.deps.publisher,
        maxChannelNameLength: this.deps.maxChannelNameLength,
        ...(this.deps.fragments ? { fragments: this.deps.fragments } : {}),
      });
      if (body instanceof Promise) return this.answerWhenKept(req, body, appId, endpoint);
      return this.answer(req, body, appId, endpoint);
    } catch (err) {
      return this.countBytes(req, this.refuse(req, err, appId, endpointOf(req)), appId);
    }
  }

  private answer(req: HttpRequest, body: unknown, appId: AppLabel, endpoint: string): HttpResponse {
    const res = { ...json(body), headers: SIGNED_HEADERS };
    this.deps.metrics.apiCalls.inc({ app: appId.label, endpoint, status: String(res.status) });
    return this.countBytes(req, res, appId);
  }

  /** A controller whose answer waits for a store (an event appended to a channel's stream). */
  private async answerWhenKept(
    req: HttpRequest,
    pending: Promise<unknown>,
    appId: AppLabel,
    endpoint: string,
  ): Promise<HttpResponse> {
    try {
      return this.answer(req, await pending, appId, endpoint);
    } catch (err) {
      return this.countBytes(req, this.refuse(req, err, appId, endpoint), appId);
    }
  }

  /** HTTP API bytes in and out per app (the dashboard's and Soketi's counters). */
  private countBytes(req: HttpRequest, res: HttpResponse, appId: AppLabel): HttpResponse {
    this.deps.metrics.httpBytesIn.inc({ app: appId.label }, req.body.length);
    this.deps.metrics.httpBytesOut.inc(
      { app: appId.label },
      typeof res.body === 'string' ? Buffer.byteLength(res.body) : res.body.length,
    );
    return res;
  }

  /**
   * Route, app, and the request as signed (`body` null: all but body_md5). Sets `appId.label` once
   * the app is known to exist: a metric label never carries an id a client made up.
   */
  private check(req: HttpHead, body: Buffer | null, appId: AppLabel): Admitted {
    const { r, params } = this.match(req);
    const app = this.deps.apps.byId(params.app ?? '');
    if (!app) {
      appId.unknown = true;
      throw httpError(404, 'Unknown app id');
    }
    appId.label = app.id;
    if (!app.enabled) throw httpError(403, 'App is disabled');
    const query = parseQuery(req.query);
    verifyApiRequest(app, req.method, req.path, query, body, this.now());
    return { r, params, app, query };
  }

  /** The one place a refused request is answered, counted and logged (rate-limited per address). */
  private refuse(req: HttpHead, err: unknown, app: AppLabel, endpoint: string): HttpResponse {
    const res = errorResponse(err, this.deps.logger);
    this.deps.metrics.apiCalls.inc({ app: app.label, endpoint, status: String(res.status) });
    const reason = refusalReason(res.status, app.unknown);
    if (reason !== null) {
      const detail = err instanceof Error ? err.message.slice(0, 200) : String(res.status);
      this.refused(req.remoteAddress, reason, res.status, detail);
    }
    return res;
  }

  /** Counts a refusal by reason and logs it once per episode of the client's address. */
  private refused(client: string, reason: RefusalReason, status: number, detail: string): void {
    this.deps.metrics.httpRefusals.inc({ reason });
    this.refusals.note('', client, 'http request refused', { reason, status, detail });
  }

  private match(req: HttpHead): { r: Route; params: Record<string, string> } {
    let pathMatched = false;
    for (const r of ROUTES) {
      const m = r.pattern.exec(req.path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method) continue;
      const params: Record<string, string> = {};
      for (let i = 0; i < r.names.length; i++) params[r.names[i] as string] = safeDecode(m[i + 1] as string);
      return { r, params };
    }
    throw pathMatched
      ? httpError(405, `Method ${req.method} not allowed here`)
      : httpError(404, `Not found: ${req.path.slice(0, 100)}`);
  }
}

/** Paths answered without an app: never refused before their body, and they take none. */
const FIXED_PATHS = new Set(['/', '/health', '/ready', '/metrics']);

/**
 * Body bytes `/wiremesh/*` takes: the session sync reads one token of at most 64 characters
 * (livewire/session-sync.ts), with room for a newline or a few spaces around it.
 */
const EXTENSION_BODY_BYTES = 256;

/** What is known about the app of a request while it is checked. */
interface AppLabel {
  /** The app's id once it is known to exist; UNKNOWN_APP_LABEL until then. */
  label: string;
  /** The id in the path is not a configured app (answered 404, no state kept about it). */
  unknown: boolean;
}

/** The endpoint label of a request: from the route table only (a bounded set). */
function endpointOf(req: HttpHead): string {
  for (const r of ROUTES) if (r.method === req.method && r.pattern.test(req.path)) return r.endpoint;
  return 'unknown';
}

function appIdOf(req: HttpHead): string | undefined {
  const m = /^\/apps\/([^/]+)\//.exec(req.path);
  if (!m || m[1] === undefined) return undefined;
  // Only to name an app already admitted (its head passed check()), so the id decodes.
  return URL_DECODABLE.test(m[1]) ? decodeURIComponent(m[1]) : undefined;
}

/** Text decodeURIComponent accepts: no `%` that does not start a valid escape (UTF-8 is checked by check()). */
const URL_DECODABLE = /^(?:[^%]|%[0-9A-Fa-f]{2})*$/;

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch (err) {
    throw httpError(400, 'Malformed percent-encoding in path', err);
  }
}
