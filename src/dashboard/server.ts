/**
 * The dashboard's own HTTP server, on its own address (config `dashboard`), never on the clients'
 * port. Read-only GETs: the page, its two scripts (uPlot served from node_modules, no CDN), and
 * three JSON reads built on request. With a token set, every request must carry it (`?token=`,
 * then a cookie holding an HMAC of it, never the token itself; or `Authorization: Bearer`);
 * anything else gets 401. Without a token (loopback only) a request must name a loopback host or
 * the configured one in `Host`: a page whose DNS name was rebound to 127.0.0.1 gets 421.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { DashboardConfig } from '../config/schema.js';
import type { ChannelQueries } from '../core/types.js';
import type { Logger } from '../log/logger.js';
import type { StatsFeed } from './feed.js';
import { PAGE_HTML, PAGE_SCRIPT } from './page.js';
import { channelMembers, clusterSnapshot, searchChannels, type PeerView } from './snapshot.js';

const COOKIE = 'wiremesh_dashboard';
const MAX_PARAM = 200;

export interface DashboardDeps {
  config: DashboardConfig;
  selfId: string;
  appIds: readonly string[];
  queries: ChannelQueries;
  feed: StatsFeed;
  peers: () => readonly PeerView[];
  logger: Logger;
}

export class DashboardServer {
  private readonly server: Server;
  private readonly tokenHash: Buffer | null;
  /** The cookie's value: an HMAC of the token (a cookie that leaks does not give the token away). */
  private readonly session: string | null;
  /** Without a token: the `Host` names (without port) a request may carry. */
  private readonly hosts: ReadonlySet<string>;
  private assets: { uplotJs: string; uplotCss: string } | null = null;

  constructor(private readonly deps: DashboardDeps) {
    this.tokenHash = deps.config.token === '' ? null : sha256(deps.config.token);
    this.session =
      deps.config.token === ''
        ? null
        : createHmac('sha256', deps.config.token).update('wiremesh dashboard session').digest('hex');
    this.hosts = new Set(['localhost', '127.0.0.1', '[::1]', bracketed(deps.config.host.toLowerCase())]);
    this.server = createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (err) {
        deps.logger.error('dashboard request failed', { err, url: req.url?.slice(0, 200) });
        send(res, 500, 'text/plain', 'Internal error');
      }
    });
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
    this.server.maxHeadersCount = 50;
  }

  async listen(): Promise<number> {
    const require = createRequire(import.meta.url);
    const dir = require.resolve('uplot/dist/uPlot.iife.min.js').replace(/uPlot\.iife\.min\.js$/, '');
    this.assets = {
      uplotJs: await readFile(dir + 'uPlot.iife.min.js', 'utf8'),
      uplotCss: await readFile(dir + 'uPlot.min.css', 'utf8'),
    };
    const { host, port } = this.deps.config;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.deps.logger.info('dashboard listening', { host, port: bound, token: this.tokenHash !== null });
    return bound;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'Only GET');
    if (this.tokenHash === null && !this.hosts.has(hostName(req.headers.host ?? ''))) {
      // No token: only the loopback names reach it. Another name is a DNS rebinding.
      this.deps.logger.warn('dashboard request refused: foreign Host', {
        client: req.socket.remoteAddress,
        host: (req.headers.host ?? '').slice(0, 100),
      });
      return send(res, 421, 'text/plain', 'Misdirected request: the dashboard answers on its own host name only');
    }
    const auth = this.authorize(req, url);
    if (auth === 'refused') {
      this.deps.logger.warn('dashboard request refused: wrong or missing token', {
        client: req.socket.remoteAddress,
        path: url.pathname.slice(0, 100),
      });
      return send(res, 401, 'text/plain', 'Unauthorized: wrong or missing dashboard token', {
        'www-authenticate': 'Bearer realm="wiremesh dashboard"',
      });
    }
    if (auth === 'fromQuery') {
      // Trade the token in the address bar for a cookie, and drop it from the address.
      url.searchParams.delete('token');
      return send(res, 303, 'text/plain', '', {
        location: url.pathname + url.search,
        'set-cookie': `${COOKIE}=${this.session ?? ''}; HttpOnly; SameSite=Strict; Path=/`,
      });
    }
    const assets = this.assets;
    switch (url.pathname) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
      case '/dashboard.js':
        return send(res, 200, 'text/javascript; charset=utf-8', PAGE_SCRIPT);
      case '/uplot.js':
        return send(res, 200, 'text/javascript; charset=utf-8', assets?.uplotJs ?? '');
      case '/uplot.css':
        return send(res, 200, 'text/css; charset=utf-8', assets?.uplotCss ?? '');
      case '/api/cluster': {
        this.deps.feed.viewed();
        const snap = clusterSnapshot({
          self: { id: this.deps.selfId, stats: this.deps.feed.local() },
          peers: this.deps.peers(),
          appIds: this.deps.appIds,
          queries: this.deps.queries,
          now: Date.now(),
        });
        return sendJson(res, snap);
      }
      case '/api/channels': {
        const app = this.app(url);
        if (!app) return sendJson(res, { error: 'unknown app' }, 404);
        return sendJson(res, searchChannels(this.deps.queries, app, param(url, 'q')));
      }
      case '/api/members': {
        const app = this.app(url);
        if (!app) return sendJson(res, { error: 'unknown app' }, 404);
        return sendJson(res, channelMembers(this.deps.queries, app, param(url, 'channel')));
      }
    }
    send(res, 404, 'text/plain', 'Not found');
  }

  private app(url: URL): string | undefined {
    const id = param(url, 'app');
    return this.deps.appIds.find((a) => a === id);
  }

  private authorize(req: IncomingMessage, url: URL): 'ok' | 'fromQuery' | 'refused' {
    if (this.tokenHash === null) return 'ok';
    const fromQuery = url.searchParams.get('token');
    if (fromQuery !== null) return this.matches(fromQuery) ? 'fromQuery' : 'refused';
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return this.matches(bearer) ? 'ok' : 'refused';
    const cookie = (req.headers.cookie ?? '')
      .split(';')
      .map((c) => c.trim())
      .find((c) => c.startsWith(COOKIE + '='));
    if (cookie === undefined || this.session === null) return 'refused';
    const value = Buffer.from(cookie.slice(COOKIE.length + 1, COOKIE.length + 1 + 128));
    const expected = Buffer.from(this.session);
    return value.length === expected.length && timingSafeEqual(value, expected) ? 'ok' : 'refused';
  }

  private matches(token: string): boolean {
    return this.tokenHash !== null && timingSafeEqual(sha256(token.slice(0, 1024)), this.tokenHash);
  }
}

/** `::1` → `[::1]`, as it appears in a Host header. */
function bracketed(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The name of a Host header, lower-cased, without its port. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function param(url: URL, name: string): string {
  return (url.searchParams.get(name) ?? '').slice(0, MAX_PARAM);
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'",
    ...headers,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, value: unknown, status = 200): void {
  send(res, status, 'application/json', JSON.stringify(value));
}
