/**
 * The browser's session, kept in step with the socket's cookie jar (issue 11). A socket can neither
 * read the browser's current cookies nor set them; an HTTP request from the page to wiremesh's own
 * origin can do both, since cookies are per host, not per port. So the page POSTs its connection's
 * sync token to `/wiremesh/session` (with credentials):
 *  - the request's Cookie header (the browser's cookies now) becomes the jar, so a session rotated
 *    over HTTP is followed by the next tunnelled update;
 *  - the response carries, as Set-Cookie, every cookie the upstream set through the tunnel since
 *    the last sync, so a login or logout inside a tunnelled update reaches the browser.
 * This only works when wiremesh's host (as the browser sees it) is the page's host: then the
 * browser sends wiremesh the app's host-only cookies and takes them from it. Otherwise (another
 * host or site) the connection says `sync: false` and the client keeps Livewire updates on HTTP.
 */
import type { UpgradeInfo } from '../transport/types.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import type { CookieJar } from './cookies.js';
import type { TrustedProxies } from './headers.js';

export const SESSION_PATH = '/wiremesh/session';
const MAX_TOKEN_CHARS = 64;

export interface SessionTarget {
  jar: CookieJar;
  /** Page origins that may sync (the app's publicUrl and allowedOrigins). */
  origins: readonly string[];
}

/**
 * Whether the page's cookies can follow the socket: wiremesh's host as the browser addressed it
 * (the Host header, or a trusted proxy's X-Forwarded-Host) is the page's host (ports do not matter
 * to cookies). Returns the reason when not.
 */
export function cookiesCanFollow(
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

/** Answers `POST /wiremesh/session`. `lookup` finds the connection of a token. */
export function sessionSync(req: HttpRequest, lookup: (token: string) => SessionTarget | undefined): HttpResponse {
  if (req.method !== 'POST') return answer(405, { error: 'POST only' });
  const token = req.body.toString('utf8', 0, Math.min(req.body.length, MAX_TOKEN_CHARS + 1)).trim();
  const target = token.length > 0 && token.length <= MAX_TOKEN_CHARS ? lookup(token) : undefined;
  if (target === undefined) return answer(403, { error: 'unknown or expired session token' });
  const origin = req.headers.origin;
  if (origin === undefined || !target.origins.includes(origin))
    return answer(403, { error: 'this Origin may not sync the session' });
  const setCookies = target.jar.takePending();
  target.jar.replace(req.headers.cookie, setCookies);
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

function answer(status: number, body: unknown, headers: Record<string, string | string[]> = {}): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}
