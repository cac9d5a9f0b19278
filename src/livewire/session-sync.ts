/**
 * The browser's session, kept in step with the socket's cookie jar. A socket can neither
 * read the browser's current cookies nor set them; an HTTP request from the page to wiremesh's own
 * origin can do both, since cookies are per host, not per port. So the page POSTs its connection's
 * sync token to `/wiremesh/session` (with credentials):
 *  - the request's Cookie header (the browser's cookies now) becomes the jar, so a session rotated
 *    over HTTP is followed by the next tunnelled update;
 *  - the response carries, as Set-Cookie, every cookie the upstream changed through the tunnel
 *    since the last sync, so a login or logout inside a tunnelled update reaches the browser. What
 *    changed is the jar's to say (cookies.ts): a cookie re-set to what the browser already holds
 *    (Laravel re-encrypts its cookies on every response: laravel-cookies.ts) is no change, so a
 *    tunnelled update that leaves the session alone needs no sync.
 * This only works when wiremesh's host (as the browser sees it) is the page's host: then the
 * browser sends wiremesh the app's host-only cookies and takes them from it. Otherwise (another
 * host or site) the connection says `sync: false` and the client keeps Livewire updates on HTTP.
 */
import { randomBytes } from 'node:crypto';
import { EpisodeLog } from '../limits/episode-log.js';
import type { Logger } from '../log/logger.js';
import type { TunnelSession } from '../protocol/frames.js';
import type { HttpRequest, HttpResponse, UpgradeInfo } from '../transport/types.js';
import type { CookieJar } from './cookies.js';
import type { TrustedProxies } from './headers.js';

export const SESSION_PATH = '/wiremesh/session';
const MAX_TOKEN_CHARS = 64;

/** What a connection's sync reaches: its cookie jar, and the page origins that may sync it. */
export interface SessionTarget {
  readonly jar: CookieJar;
  /** Page origins that may sync (the app's publicUrl and allowedOrigins). */
  readonly origins: readonly string[];
}

/** The connection asking `wiremesh:session`: its handshake and page, with the target its token will reach. */
export interface SessionRequest {
  readonly target: SessionTarget;
  readonly handshake: UpgradeInfo;
  /** The allowed origin the handshake named; null when it named none. */
  readonly page: URL | null;
  readonly proxies: TrustedProxies;
}

export interface SessionSyncDeps {
  logger: Logger;
  now?: () => number;
}

/**
 * The sync tokens of the open connections and the endpoint that spends them. The one place that
 * decides whether (and how) a browser must sync its session with a connection.
 */
export class SessionSync {
  private readonly tokens = new Map<string, SessionTarget>();
  private readonly tokenOf = new Map<SessionTarget, string>();
  /** Refused syncs, logged once per episode per client and status. */
  private readonly refusals: EpisodeLog;

  constructor(deps: SessionSyncDeps) {
    this.refusals = new EpisodeLog({
      logger: deps.logger,
      summary: 'livewire refusals from one client ended',
      scopeField: 'code',
      maxKeys: 1024,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  /** The answer to `wiremesh:session`: the connection's token (one per connection), or why it cannot sync. */
  offer(req: SessionRequest): TunnelSession {
    if (req.page === null) {
      return {
        token: '',
        sync: false,
        reason: "the page's Origin is not one of this app's allowed origins",
        path: SESSION_PATH,
      };
    }
    const { sync, reason } = cookiesCanFollow(req.handshake, req.page, req.proxies);
    if (!sync) return { token: '', sync, reason, path: SESSION_PATH };
    let token = this.tokenOf.get(req.target);
    if (token === undefined) {
      token = randomBytes(24).toString('base64url');
      this.tokens.set(token, req.target);
      this.tokenOf.set(req.target, token);
    }
    return { token, sync, reason, path: SESSION_PATH };
  }

  /** The connection closed: its token is spent. */
  forget(target: SessionTarget): void {
    const token = this.tokenOf.get(target);
    if (token === undefined) return;
    this.tokenOf.delete(target);
    this.tokens.delete(token);
  }

  /** `/wiremesh/*` over HTTP: `POST /wiremesh/session`; anything else is 404. */
  http(req: HttpRequest): HttpResponse {
    if (req.path !== SESSION_PATH) return answer(404, { error: 'Not found' });
    const res = this.sync(req);
    if (res.status !== 200) {
      const origin = req.headers.origin;
      this.refusals.note(`session_${res.status}`, req.remoteAddress, 'livewire session sync refused', {
        body: String(res.body).slice(0, 100),
        ...(origin === undefined ? {} : { origin: origin.slice(0, 200) }),
      });
    }
    return res;
  }

  /**
   * The browser's cookies become the jar; the cookies the upstream changed through the tunnel
   * since the last sync go back as Set-Cookie.
   */
  private sync(req: HttpRequest): HttpResponse {
    if (req.method !== 'POST') return answer(405, { error: 'POST only' });
    const token = req.body.toString('utf8', 0, Math.min(req.body.length, MAX_TOKEN_CHARS + 1)).trim();
    const target = token.length > 0 && token.length <= MAX_TOKEN_CHARS ? this.tokens.get(token) : undefined;
    if (target === undefined) return answer(403, { error: 'unknown or expired session token' });
    const origin = req.headers.origin;
    if (origin === undefined || !target.origins.includes(origin))
      return answer(403, { error: 'this Origin may not sync the session' });
    const setCookies = target.jar.sync(req.headers.cookie);
    return answer(
      200,
      { set: setCookies.map((c) => c.slice(0, Math.max(0, c.indexOf('='))).trim()) },
      {
        'access-control-allow-origin': origin,
        'access-control-allow-credentials': 'true',
        vary: 'Origin',
        ...(setCookies.length > 0 ? { 'set-cookie': setCookies } : {}),
      },
    );
  }
}

/**
 * Whether the page's cookies can follow the socket: wiremesh's host as the browser addressed it
 * (the Host header, or a trusted proxy's X-Forwarded-Host) is the page's host (ports do not matter
 * to cookies). Returns the reason when not.
 */
function cookiesCanFollow(
  handshake: UpgradeInfo,
  page: URL,
  proxies: TrustedProxies,
): { sync: boolean; reason: string } {
  const forwarded = proxies.has(handshake.remoteAddress)
    ? handshake.headers['x-forwarded-host']?.split(',')[0]?.trim()
    : undefined;
  const host = hostname(forwarded || handshake.headers.host || '');
  if (host === page.hostname) return { sync: true, reason: 'same host' };
  return {
    sync: false,
    reason: `wiremesh is reached at ${host.slice(0, 100) || 'an unknown host'}, not at the page's host ${page.hostname}: cookies cannot follow`,
  };
}

function hostname(hostHeader: string): string {
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return '';
  }
}

function answer(status: number, body: unknown, headers: Record<string, string | string[]> = {}): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}
