/**
 * Which headers cross the tunnel, in each direction. Pure functions.
 *
 * To the backend: a short allowed list from the client's request, a few from the WebSocket
 * handshake (the browser's own), the connection's cookies, and the proxy headers a Laravel app
 * behind TrustProxies reads (X-Forwarded-For with the real client address: Livewire rate-limits
 * checksum failures per IP). Back to the client: everything but hop-by-hop headers and Set-Cookie.
 */
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
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { refused: 'headers must be an object' };
  const out: Record<string, string> = {};
  for (const [rawName, v] of Object.entries(value as Record<string, unknown>)) {
    const name = rawName.toLowerCase();
    if (!CLIENT_HEADERS.includes(name)) continue;
    if (typeof v !== 'string' || v.length > MAX_HEADER_VALUE || /[\r\n\0]/.test(v)) {
      return { refused: `header ${name} must be a string of at most ${MAX_HEADER_VALUE} characters without line breaks` };
    }
    out[name] = v;
  }
  return out;
}

/**
 * The origin of the page as the browser sees it: the handshake's Origin, else `publicUrl`, else the
 * handshake's Host (with X-Forwarded-Proto's scheme). Null when the Origin names another site than
 * `publicUrl`: such a page may not use this app's tunnel.
 */
export function pageOrigin(handshake: UpgradeInfo, publicUrl: string | undefined): URL | null {
  const origin = handshake.headers.origin;
  if (origin !== undefined && origin !== '' && origin !== 'null') {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return null;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    if (publicUrl !== undefined && url.origin !== publicUrl) return null;
    return new URL(url.origin);
  }
  if (publicUrl !== undefined) return new URL(publicUrl);
  const scheme = firstValue(handshake.headers['x-forwarded-proto']) === 'https' ? 'https' : 'http';
  try {
    return new URL(`${scheme}://${handshake.headers.host ?? 'localhost'}`);
  } catch {
    return null;
  }
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

/** The headers of every request this connection sends to the backend, without `cookie`. */
export function connectionHeaders(handshake: UpgradeInfo, socketId: string, page: URL): Record<string, string> {
  const h = handshake.headers;
  const out: Record<string, string> = {};
  for (const name of HANDSHAKE_HEADERS) {
    const value = h[name];
    if (value !== undefined && value !== '') out[name] = value;
  }
  const client = clientAddress(handshake.remoteAddress);
  const chain = h['x-forwarded-for'];
  const hops = [chain, client].filter((v) => v !== undefined && v !== '');
  if (hops.length > 0) out['x-forwarded-for'] = hops.join(', ');
  out['x-forwarded-proto'] = firstValue(h['x-forwarded-proto']) ?? page.protocol.slice(0, -1);
  out['x-forwarded-host'] = page.host;
  out['x-forwarded-port'] = page.port || (page.protocol === 'https:' ? '443' : '80');
  out['x-socket-id'] = socketId;
  // The body is passed to the client as text: no compressed answers.
  out['accept-encoding'] = 'identity';
  return out;
}

/** The backend's response headers as `[name, value]` pairs, without hop-by-hop and Set-Cookie. */
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

/** `::ffff:203.0.113.5` → `203.0.113.5`. */
function clientAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function firstValue(header: string | undefined): string | undefined {
  const v = header?.split(',')[0]?.trim().toLowerCase();
  return v === undefined || v === '' ? undefined : v;
}
