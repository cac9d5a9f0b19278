/**
 * What both transports decide from an HTTP request's head, before its body is read: a declared
 * length over the limit is answered 413 at once and the connection closed (as nginx's
 * client_max_body_size); then the core's `admitHttp` may refuse (unknown app, bad signature), and
 * the body of a refused request is read only to be discarded (never kept), so the keep-alive
 * connection stays usable. A body that passes the limit while read is cut there (413, close).
 */
import type { HttpResponse, TransportHooks } from './types.js';

/** The HTTP hooks a transport calls, each one present (withDefaultHooks). */
export type HttpHooks = Required<Pick<TransportHooks, 'handleHttp' | 'admitHttp' | 'bodyTooLarge' | 'bodyLimit'>>;

/** The default 413 (a transport without a `bodyTooLarge` hook). */
export function tooLargeResponse(max: number): HttpResponse {
  const error = `Request body is larger than ${max} bytes`;
  return { status: 413, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error }) };
}

/**
 * `hooks` with the defaults of what they leave out: no `admitHttp` reads every body, no
 * `bodyTooLarge` answers tooLargeResponse, no `bodyLimit` allows `maxRequestBodyBytes` (and a
 * `bodyLimit` never allows more).
 */
export function withDefaultHooks(hooks: TransportHooks, options: { maxRequestBodyBytes: number }): HttpHooks {
  const { admitHttp, bodyTooLarge, bodyLimit } = hooks;
  const max = options.maxRequestBodyBytes;
  return {
    handleHttp: (req) => hooks.handleHttp(req),
    admitHttp: admitHttp ? (head) => admitHttp.call(hooks, head) : () => null,
    bodyTooLarge: bodyTooLarge ? (head) => bodyTooLarge.call(hooks, head) : () => tooLargeResponse(max),
    bodyLimit: bodyLimit ? (head) => Math.min(max, bodyLimit.call(hooks, head)) : () => max,
  };
}

/**
 * A Content-Length over `max` (or one that is not a number); with `max` 0, any body announced
 * (a length other than 0, or Transfer-Encoding).
 */
export function declaredTooLong(headers: Record<string, string>, max: number): boolean {
  const declared = headers['content-length'];
  if (max === 0 && headers['transfer-encoding'] !== undefined) return true;
  return declared !== undefined && !(Number(declared) <= max);
}
