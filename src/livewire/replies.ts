/**
 * The tunnel's own failure replies, built here and nowhere else: what the client gets when the
 * upstream failed after it may have started on a request (never a fallback then: HTTP would run it
 * again). Before a response frame: a 502/504 response like a proxy's; after one: a last chunk with
 * `error`. The `wiremesh:fallback` frame (nothing has run) is built in tunnel.ts's `fallback`.
 */
import type { TunnelChunk, TunnelResponse } from '../protocol/frames.js';

/** The upstream (or the tunnel) failed after the request may have started. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  constructor(
    readonly status: 502 | 504,
    /** Shown to the client (the body of the reply): never upstream details. */
    readonly reply: string,
    /** For the log. */
    message: string = reply,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const TEXT: Array<[string, string]> = [['content-type', 'text/plain; charset=utf-8']];

/** The response frame for a failure before anything was answered. */
export function failureResponse(
  f: UpstreamFailure,
  url: string,
  setCookies: readonly string[],
): Omit<TunnelResponse, 'id'> {
  return {
    status: f.status,
    statusText: f.status === 504 ? 'Gateway Timeout' : 'Bad Gateway',
    headers: TEXT.map(([n, v]) => [n, v]),
    url,
    redirected: false,
    body: f.reply,
    done: true,
    setCookies: [...setCookies],
  };
}

/** The last chunk for a failure after the response frame went out. */
export function failureChunk(f: UpstreamFailure): Omit<TunnelChunk, 'id'> {
  return { chunk: '', done: true, error: f.reply };
}
