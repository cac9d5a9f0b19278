/**
 * The HTTP side of the one port: the Pusher HTTP API (signed), plus /health, /ready and /metrics.
 * One controller per endpoint; errors become responses in http/respond.ts.
 */
import type { AppDirectory } from '../apps/directory.js';
import type { ChannelQueries, EventPublisher } from '../core/types.js';
import { httpError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { parseQuery, verifyApiRequest } from './api-auth.js';
import type { Controller } from './context.js';
import { channelUsers, listChannels, showChannel, terminateConnections } from './controllers/channels.js';
import { triggerBatch, triggerEvent } from './controllers/events.js';
import { errorResponse, json, text } from './respond.js';

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  endpoint: string;
  controller: Controller;
}

function route(method: string, path: string, endpoint: string, controller: Controller): Route {
  const names: string[] = [];
  const pattern = new RegExp(
    '^' + path.replace(/\{(\w+)\}/g, (_, n: string) => (names.push(n), '([^/]+)')) + '/?$',
  );
  return { method, pattern, names, endpoint, controller };
}

const ROUTES: Route[] = [
  route('POST', '/apps/{app}/events', 'events', triggerEvent),
  route('POST', '/apps/{app}/batch_events', 'batch_events', triggerBatch),
  route('GET', '/apps/{app}/channels', 'channels', listChannels),
  route('GET', '/apps/{app}/channels/{channel}', 'channel', showChannel),
  route('GET', '/apps/{app}/channels/{channel}/users', 'users', channelUsers),
  route('POST', '/apps/{app}/users/{user}/terminate_connections', 'terminate_connections', terminateConnections),
];

export interface HttpApiDeps {
  apps: AppDirectory;
  queries: ChannelQueries;
  publisher: EventPublisher;
  metrics: ServerMetrics;
  logger: Logger;
  maxChannelNameLength: number;
  metricsEnabled: boolean;
  /** The `/metrics` text (default: this process's registry). */
  renderMetrics?: () => Promise<string>;
  isReady: () => boolean;
  now?: () => number;
}

export class HttpApi {
  private readonly now: () => number;
  constructor(private readonly deps: HttpApiDeps) {
    this.now = deps.now ?? Date.now;
  }

  async handle(req: HttpRequest): Promise<HttpResponse> {
    switch (req.path) {
      case '/':
      case '/health':
        return text('OK');
      case '/ready':
        return this.deps.isReady() ? text('OK') : text('Draining', 503);
      case '/metrics':
        if (this.deps.metricsEnabled) {
          const body = this.deps.renderMetrics ? await this.deps.renderMetrics() : this.deps.metrics.registry.render();
          return text(body, 200, 'text/plain; version=0.0.4');
        }
    }
    return this.api(req);
  }

  private api(req: HttpRequest): HttpResponse {
    let endpoint = 'unknown';
    let appId = '';
    let res: HttpResponse;
    try {
      const { r, params } = this.match(req);
      endpoint = r.endpoint;
      appId = params.app as string;
      const app = this.deps.apps.byId(appId);
      if (!app) throw httpError(404, `Unknown app id ${JSON.stringify(appId.slice(0, 100))}`);
      if (!app.enabled) throw httpError(403, 'App is disabled');
      const query = parseQuery(req.query);
      verifyApiRequest(app, req.method, req.path, query, req.body, this.now());
      const body = r.controller({
        app,
        params,
        query: query.params,
        body: req.body,
        queries: this.deps.queries,
        publisher: this.deps.publisher,
        maxChannelNameLength: this.deps.maxChannelNameLength,
      });
      res = json(body);
    } catch (err) {
      res = errorResponse(err, this.deps.logger);
    }
    this.deps.metrics.apiCalls.inc({ app: appId, endpoint, status: String(res.status) });
    this.deps.metrics.httpBytesIn.inc({ app: appId }, req.body.length);
    this.deps.metrics.httpBytesOut.inc({ app: appId }, typeof res.body === 'string' ? Buffer.byteLength(res.body) : res.body.length);
    return res;
  }

  private match(req: HttpRequest): { r: Route; params: Record<string, string> } {
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
    throw pathMatched ? httpError(405, `Method ${req.method} not allowed here`) : httpError(404, `Not found: ${req.path.slice(0, 100)}`);
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch (err) {
    throw httpError(400, 'Malformed percent-encoding in path', err);
  }
}
