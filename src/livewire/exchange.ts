/**
 * One tunnelled request, from choosing a backend to the last frame of its response: tries the
 * healthy backends nearest first (moving on only when a connection could not be made, so nothing
 * runs twice), follows same-origin redirects as fetch does, keeps the connection's cookie jar, and
 * streams `text/event-stream` / `X-Livewire-Stream` bodies as they arrive.
 *
 * Outcomes: response frames through `out`; a thrown Fallback while the backend has executed
 * nothing (and for a redirect to another origin, which fetch would follow in the browser); a
 * 502/504 response when the backend failed after it may have started on the request.
 */
import type { Dispatcher } from 'undici';
import type { LivewireConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { TunnelChunk, TunnelResponse } from '../protocol/frames.js';
import type { BackendSet } from './backends.js';
import { errorCode, isConnectError, isTimeout, type BackendClient } from './client.js';
import type { CookieJar } from './cookies.js';
import { refererFor, responseHeaders, setCookieValues } from './headers.js';
import { Fallback, type TunnelRequest } from './request.js';

export const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Request headers that describe a body, dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];

export interface ExchangeParts {
  config: LivewireConfig;
  backends: BackendSet;
  client: BackendClient;
  logger: Logger;
}

export interface Exchange {
  request: TunnelRequest;
  jar: CookieJar;
  /** The page's origin: the base of redirects and of the `url` reported to the client. */
  page: URL;
  /** Headers of every request of this connection (proxy headers, X-Socket-ID, ...), without cookie. */
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Largest text in one frame; longer bodies go as chunks. */
  frameChars: number;
  out: ExchangeOutput;
}

/** Where the frames of one exchange go. Each send returns false when nobody listens any more. */
export interface ExchangeOutput {
  response(r: Omit<TunnelResponse, 'id'>): boolean;
  chunk(c: Omit<TunnelChunk, 'id'>): boolean;
  /** Resolves when the socket has room for more frames. */
  room(): Promise<void>;
}

/** The backend failed after it may have started on the request: answered like a proxy would. */
class BackendFailure extends Error {
  override readonly name = 'BackendFailure';
  constructor(
    readonly status: 502 | 504,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Runs the exchange to its end. Throws Fallback; returns quietly when aborted. */
export async function runExchange(parts: ExchangeParts, x: Exchange): Promise<void> {
  const req = x.request;
  let method = req.method;
  let path = req.path;
  let body: string | undefined = method === 'POST' ? req.body : undefined;
  const { referer: clientReferer, ...clientHeaders } = req.headers;
  const headers: Record<string, string> = { ...clientHeaders, ...x.headers };
  const referer = refererFor(clientReferer, x.page);
  if (referer !== undefined) headers.referer = referer;
  const setCookies = new Set<string>();
  try {
    for (let hop = 0; ; hop++) {
      const jarHeader = x.jar.header();
      const sent = { ...headers, ...(jarHeader === undefined ? {} : { cookie: jarHeader }) };
      const { origin, res } = await open(parts, x, hop, { method, path, headers: sent, ...(body === undefined ? {} : { body }) });
      for (const value of setCookieValues(res.headers)) {
        const name = x.jar.apply(value);
        if (name !== null) setCookies.add(name);
      }
      const location = firstHeader(res.headers.location);
      if (!REDIRECTS.has(res.statusCode) || location === undefined) {
        await deliver(parts, x, res, { url: new URL(path, x.page).href, redirected: hop > 0, setCookies: [...setCookies] });
        return;
      }
      await res.body.dump();
      if (hop === MAX_REDIRECTS) throw new BackendFailure(502, `more than ${MAX_REDIRECTS} redirects`);
      const target = new URL(location, new URL(path, x.page));
      if (target.origin !== x.page.origin && target.origin !== origin) {
        throw new Fallback('not_allowed', `the backend redirected to another origin (${target.origin})`);
      }
      // As fetch does: 303 (and 301/302 after a POST) becomes a GET without a body.
      if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
        for (const h of BODY_HEADERS) delete headers[h];
      }
      path = target.pathname + target.search;
    }
  } catch (err) {
    if (x.signal.aborted) return;
    if (!(err instanceof BackendFailure)) throw err;
    parts.logger.warn('livewire backend failed', { id: req.id, path: req.pathname, status: err.status, reason: err.message, err: err.cause });
    x.out.response({
      status: err.status,
      statusText: err.status === 504 ? 'Gateway Timeout' : 'Bad Gateway',
      headers: [['content-type', 'text/plain; charset=utf-8']],
      url: new URL(path, x.page).href,
      redirected: false,
      body: err.status === 504 ? 'The backend did not answer in time' : `The backend failed: ${err.message}`,
      done: true,
      setCookies: [...setCookies],
    });
  }
}

/** Sends one request to the nearest healthy backend that accepts a connection. */
async function open(
  parts: ExchangeParts,
  x: Exchange,
  hop: number,
  req: { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: string },
): Promise<{ origin: string; res: Dispatcher.ResponseData }> {
  // Nothing has run on a backend yet only before the first answer: later, HTTP would repeat it.
  const unavailable = (why: string): Error =>
    hop === 0 ? new Fallback('backend_unavailable', why) : new BackendFailure(502, why);
  const candidates = await parts.backends.healthy();
  if (candidates.length === 0) throw unavailable('no healthy backend');
  for (const origin of candidates) {
    try {
      return { origin, res: await parts.client.request(origin, { ...req, signal: x.signal }) };
    } catch (err) {
      if (x.signal.aborted) throw err;
      parts.backends.markDown(origin, errorCode(err));
      if (isConnectError(err)) continue;
      if (isTimeout(err)) throw new BackendFailure(504, 'no answer in time', { cause: err });
      throw new BackendFailure(502, 'the connection to the backend failed', { cause: err });
    }
  }
  throw unavailable('no backend accepted a connection');
}

/** Sends the response: one frame, or a first frame and chunks (streams, long bodies). */
async function deliver(
  parts: ExchangeParts,
  x: Exchange,
  res: Dispatcher.ResponseData,
  meta: Pick<TunnelResponse, 'url' | 'redirected' | 'setCookies'>,
): Promise<void> {
  const head = { status: res.statusCode, statusText: res.statusText ?? '', headers: responseHeaders(res.headers), ...meta };
  const limit = parts.config.maxResponseBytes;
  const streamed = isStream(res.headers);
  const encoding = firstHeader(res.headers['content-encoding']);
  if (encoding !== undefined && encoding !== 'identity') {
    res.body.destroy();
    throw new BackendFailure(502, `the backend answered with content-encoding ${encoding.slice(0, 40)}`);
  }
  if (!streamed) {
    const text = await collect(res, limit);
    if (text === null) {
      parts.logger.warn('livewire response too large', { id: x.request.id, path: x.request.pathname, limit });
      const tooLarge = { status: 502, statusText: 'Bad Gateway', headers: [['content-type', 'text/plain; charset=utf-8']] as Array<[string, string]> };
      x.out.response({ ...head, ...tooLarge, body: 'Response too large for the tunnel', done: true });
      return;
    }
    const [first = '', ...rest] = pieces(text, x.frameChars);
    await x.out.room();
    if (!x.out.response({ ...head, body: first, done: rest.length === 0 })) return;
    for (let i = 0; i < rest.length; i++) {
      await x.out.room();
      if (!x.out.chunk({ chunk: rest[i]!, done: i === rest.length - 1 })) return;
    }
    return;
  }
  if (!x.out.response({ ...head, body: '', done: false })) {
    res.body.destroy();
    return;
  }
  const decoder = new TextDecoder();
  let size = 0;
  try {
    for await (const buf of res.body as AsyncIterable<Buffer>) {
      size += buf.length;
      if (size > limit) {
        res.body.destroy();
        parts.logger.warn('livewire streamed response too large', { id: x.request.id, path: x.request.pathname, limit });
        x.out.chunk({ chunk: '', done: true, error: 'Response too large for the tunnel' });
        return;
      }
      for (const piece of pieces(decoder.decode(buf, { stream: true }), x.frameChars)) {
        await x.out.room();
        if (!x.out.chunk({ chunk: piece, done: false })) {
          res.body.destroy();
          return;
        }
      }
    }
  } catch (err) {
    if (x.signal.aborted) return;
    parts.logger.warn('livewire backend stream failed', { id: x.request.id, path: x.request.pathname, err });
    x.out.chunk({ chunk: '', done: true, error: 'The backend failed while streaming' });
    return;
  }
  x.out.chunk({ chunk: decoder.decode(), done: true });
}

/** The whole body as text; null when it is over `limit` bytes. Read failures become BackendFailure. */
async function collect(res: Dispatcher.ResponseData, limit: number): Promise<string | null> {
  const buffers: Buffer[] = [];
  let size = 0;
  try {
    for await (const buf of res.body as AsyncIterable<Buffer>) {
      size += buf.length;
      if (size > limit) {
        res.body.destroy();
        return null;
      }
      buffers.push(buf);
    }
  } catch (err) {
    if (isTimeout(err)) throw new BackendFailure(504, 'the response body stalled', { cause: err });
    throw new BackendFailure(502, 'the response body was cut off', { cause: err });
  }
  return Buffer.concat(buffers).toString('utf8');
}

function isStream(headers: Dispatcher.ResponseData['headers']): boolean {
  const type = firstHeader(headers['content-type']) ?? '';
  return type.toLowerCase().startsWith('text/event-stream') || headers['x-livewire-stream'] !== undefined;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `text` cut into pieces of at most `size` characters, never between the halves of a surrogate pair. */
export function pieces(text: string, size: number): string[] {
  if (text.length <= size) return text === '' ? [] : [text];
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + size);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}
