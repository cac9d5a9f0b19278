/**
 * Which headers cross the tunnel, in each direction. Pure functions.
 *
 * To the upstream: a short allowed list from the client's request, a few from the WebSocket
 * handshake (the browser's own), the connection's cookies, and the proxy headers a Laravel app
 * behind TrustProxies reads: X-Forwarded-Host/Port/Proto from configuration only (the matched
 * allowed origin), X-Forwarded-For with the real client address (Livewire rate-limits checksum
 * failures per IP), believing the handshake's own X-Forwarded-For only from a trusted proxy.
 * Back to the client: everything but hop-by-hop headers and Set-Cookie.
 */
import { forwardedChain, plainAddress, type TrustedProxies } from '../limits/client-address.js';

/** One implementation for the tunnel and the limits: the tunnel's `livewire.trustedProxies` use it too. */
export { TrustedProxies } from '../limits/client-address.js';
import type { UpgradeInfo } from '../transport/types.js';

/** Request headers a client may set on a tunnelled request (lower-case). */
export const CLIENT_HEADERS: readonly string[] = [
  'content-type',
  'accept',
  'x-livewire',
  'x-csrf-token',
  'x-xsrf-token',
  'x-requested-with',
  // The page the request comes from (it changes with wire:navigate; the handshake's is stale and
  // Chromium sends none). Used only when it is on the page's own origin: see refererFor().
  'referer',
];

/** Headers of the browser's handshake passed on with every request. */
const HANDSHAKE_HEADERS = ['user-agent', 'accept-language', 'origin', 'referer'];

/** A header value undici (and RFC 9110 field-value) accepts: tab, printable ASCII, obs-text. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Never forwarded in either direction (RFC 9110 §7.6.1), plus what the tunnel handles itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const MAX_HEADER_VALUE = 8 * 1024;

/**
 * The client's request headers restricted to CLIENT_HEADERS, or the reason they are refused.
 * Other names are dropped without a word: browsers' wrappers may pass along more than needed.
 */
export function pickClientHeaders(value: unknown): Record<string, string> | { refused: string } {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { refused: 'headers must be an object' };
  const out: Record<string, string> = {};
  for (const [rawName, v] of Object.entries(value as Record<string, unknown>)) {
    const name = rawName.toLowerCase();
    if (!CLIENT_HEADERS.includes(name)) continue;
    if (typeof v !== 'string' || v.length > MAX_HEADER_VALUE || !HEADER_VALUE.test(v)) {
      return {
        refused: `header ${name} must be a string of at most ${MAX_HEADER_VALUE} characters without control characters or characters above U+00FF`,
      };
    }
    out[name] = v;
  }
  return out;
}

/**
 * The page's origin, from configuration: the allowed origin (publicUrl first, then allowedOrigins)
 * that the handshake's Origin names. Null when the Origin is missing, `null`, malformed or another
 * site: such a handshake may not tunnel (the cookies it carries would be a victim's, sent by another site's page).
 */
export function pageOrigin(handshake: UpgradeInfo, allowed: readonly string[]): URL | null {
  const origin = handshake.headers.origin;
  if (origin === undefined || origin === '' || origin === 'null') return null;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return null;
  }
  const match = allowed.find((a) => a === url.origin);
  return match === undefined ? null : new URL(match);
}

/**
 * The client's address as far as it can be known: the peer, or, when the peer is a trusted proxy,
 * the client it names (limits/client-address.ts).
 */
export function clientOf(handshake: UpgradeInfo, proxies: TrustedProxies): string {
  return proxies.clientOf(handshake.remoteAddress, handshake.headers);
}

/**
 * The Referer to send: the client's, when it names a page of the page's own origin; else the
 * handshake's (in `connectionHeaders`). Laravel's `redirect()->back()` and Livewire's
 * `originalUrl()` read it.
 */
export function refererFor(clientReferer: string | undefined, page: URL): string | undefined {
  if (clientReferer === undefined) return undefined;
  try {
    return new URL(clientReferer).origin === page.origin ? clientReferer : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The headers of every request this connection sends to the upstream, without `cookie`. The
 * forwarded host, port and scheme are the configured page origin's; the handshake's X-Forwarded-*
 * are believed only from a trusted proxy (and then only its X-Forwarded-For chain of addresses).
 */
export function connectionHeaders(
  handshake: UpgradeInfo,
  socketId: string,
  page: URL,
  proxies: TrustedProxies,
): Record<string, string> {
  const h = handshake.headers;
  const out: Record<string, string> = {};
  for (const name of HANDSHAKE_HEADERS) {
    const value = h[name];
    if (value !== undefined && value !== '' && HEADER_VALUE.test(value)) out[name] = value;
  }
  const peer = plainAddress(handshake.remoteAddress);
  const hops = proxies.has(peer) ? [...forwardedChain(handshake.headers), peer] : [peer];
  out['x-forwarded-for'] = hops.join(', ');
  out['x-forwarded-proto'] = page.protocol.slice(0, -1);
  out['x-forwarded-host'] = page.host;
  out['x-forwarded-port'] = page.port || (page.protocol === 'https:' ? '443' : '80');
  out['x-socket-id'] = socketId;
  // The body is passed to the client as text: no compressed answers.
  out['accept-encoding'] = 'identity';
  return out;
}

/** The upstream's response headers as `[name, value]` pairs, without hop-by-hop and Set-Cookie. */
export function responseHeaders(headers: Record<string, string | string[] | undefined>): Array<[string, string]> {
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase()),
  );
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = name.toLowerCase();
    if (value === undefined || n === 'set-cookie' || HOP_BY_HOP.has(n) || listed.has(n)) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([n, v]);
  }
  return out;
}

/** Set-Cookie values of a response, however the HTTP client grouped them. */
export function setCookieValues(headers: Record<string, string | string[] | undefined>): string[] {
  const v = headers['set-cookie'];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
