/**
 * Reads a `fetch(input, init)` call into what the tunnel needs, without consuming anything the
 * original `fetch` may still need for a fallback (a `Request` body is read from a clone).
 */
import type { RequestShape } from './match.js';
import { parseUrl } from './url.js';

export interface CapturedRequest extends RequestShape {
  readonly signal: AbortSignal | undefined;
}

export interface TunnelRequest {
  readonly method: string;
  /** pathname + search */
  readonly path: string;
  /** Lower-cased names. */
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Absolute URL, the `Response.url` when the server does not name another. */
  readonly url: string;
}

/** Describes a fetch call synchronously; undefined when its URL cannot be resolved here. */
export function describeRequest(input: RequestInfo | URL, init: RequestInit | undefined): CapturedRequest | undefined {
  const request = isRequest(input) ? input : undefined;
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  const href = request ? request.url : String(input);
  const url = parseUrl(href, base);
  if (url === undefined) return undefined;
  const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
  const headers = new Headers(init?.headers ?? request?.headers);
  const signal = init?.signal ?? request?.signal ?? undefined;
  return { url, method, headers, signal };
}

/**
 * The request as the tunnel sends it, or undefined when its body is not text we can carry
 * (FormData, Blob, binary, streams): those stay on HTTP.
 */
export async function captureRequest(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  shape: CapturedRequest,
): Promise<TunnelRequest | undefined> {
  const body = await readBody(input, init);
  if (body === undefined) return undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of shape.headers) headers[name] = value;
  // What a browser adds to a fetch on its own, so the backend sees the same request.
  if (headers['accept'] === undefined) headers['accept'] = '*/*';
  if (headers['content-type'] === undefined && body.type !== undefined) headers['content-type'] = body.type;
  const referer = refererFor(input, init);
  if (referer !== undefined) headers['referer'] = referer;
  return {
    method: shape.method,
    path: shape.url.pathname + shape.url.search,
    headers,
    body: body.text,
    url: shape.url.href,
  };
}

async function readBody(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): Promise<{ text: string; type?: string } | undefined> {
  if (init !== undefined && 'body' in init) {
    const body = init.body;
    if (body === undefined || body === null) return { text: '' };
    if (typeof body === 'string') return { text: body, type: 'text/plain;charset=UTF-8' };
    if (body instanceof URLSearchParams) {
      return { text: body.toString(), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
    }
    return undefined;
  }
  if (isRequest(input)) return input.body === null ? { text: '' } : { text: await input.clone().text() };
  return { text: '' };
}

function isRequest(input: unknown): input is Request {
  return typeof Request !== 'undefined' && input instanceof Request;
}

/**
 * The Referer a browser would send with this same-origin fetch: the page's URL without its
 * fragment (the default `strict-origin-when-cross-origin` policy keeps the full URL for same
 * origin), `init.referrer` when given, none for `no-referrer`. Backends use it ("redirect back").
 */
function refererFor(input: RequestInfo | URL, init: RequestInit | undefined): string | undefined {
  const request = isRequest(input) ? input : undefined;
  if ((init?.referrerPolicy ?? request?.referrerPolicy) === 'no-referrer') return undefined;
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  const chosen = init?.referrer ?? (request && request.referrer !== 'about:client' ? request.referrer : undefined);
  if (chosen === '') return undefined;
  const href = chosen === undefined || chosen === 'about:client' ? page : chosen;
  const url = href === undefined ? undefined : parseUrl(href, page);
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  url.hash = '';
  url.username = '';
  url.password = '';
  return url.href;
}
