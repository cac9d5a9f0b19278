/**
 * One tunnelled request, from choosing an upstream to the last frame of its response: tries the
 * healthy upstreams nearest first (moving on only when a connection could not be made, so nothing
 * runs twice), follows same-origin redirects as fetch does, keeps the connection's cookie jar, and
 * streams `text/event-stream` / `X-Livewire-Stream` bodies as they arrive.
 *
 * Outcomes: response frames through `out`; a thrown Fallback while the upstream has executed
 * nothing (and for a redirect to another origin, which fetch would follow in the browser); an
 * UpstreamFailure handed to `out.fail` when the upstream failed after it may have started on the
 * request, or when the exchange ran past its deadline (the signal's reason).
 *
 * Only a connect error or a timeout marks an upstream down: never a request undici refused (the
 * client's input), a local failure (EMFILE), or a full queue.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import type { LivewireConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { TunnelChunk, TunnelResponse } from '../protocol/frames.js';
import type { BudgetRefusal, ByteBudget } from './budget.js';
import type { CookieJar } from './cookies.js';
import { GateRefusal } from '../upstreams/gate.js';
import { refererFor, responseHeaders, setCookieValues } from './headers.js';
import { readBody } from './read-body.js';
import { UpstreamFailure } from './replies.js';
import { Fallback, type TunnelRequest } from './request.js';
import { errorCode, isConnectError, isInvalidRequest, isLocalError, isTimeout } from '../upstreams/client.js';
import type { AppUpstreams } from '../upstreams/upstreams.js';

export const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Request headers that describe a body, dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];
const TOO_LARGE = 'Response too large for the tunnel';

export interface ExchangeParts {
  config: LivewireConfig;
  upstreams: AppUpstreams;
  logger: Logger;
}

export interface Exchange {
  request: TunnelRequest;
  jar: CookieJar;
  /** The page's origin (configured): the base of redirects and of the `url` reported to the client. */
  page: URL;
  /** Headers of every request of this connection (proxy headers, X-Socket-ID, ...), without cookie. */
  headers: Record<string, string>;
  /** Aborts the upstream request: the connection closed, or the deadline passed (reason: an UpstreamFailure). */
  signal: AbortSignal;
  /** Largest text in one frame; longer bodies go as chunks. */
  frameChars: number;
  /** Response bytes this exchange may hold (budget.ts: its connection's, its address's, the node's). */
  budget: ByteBudget;
  out: ExchangeOutput;
}

/** Where the frames of one exchange go. Each send returns false when nobody listens any more. */
export interface ExchangeOutput {
  response(r: Omit<TunnelResponse, 'id'>): boolean;
  chunk(c: Omit<TunnelChunk, 'id'>): boolean;
  /** The upstream failed after it may have started: the one failure reply (replies.ts). */
  fail(f: UpstreamFailure, url: string, setCookies: readonly string[]): void;
  /** False once the client gave the request up (`wiremesh:abort`): the upstream exchange still ends first. */
  wanted(): boolean;
  /** Undefined when the socket has room for more frames now; else resolves when it has. */
  room(): Promise<void> | undefined;
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
      if (!x.out.wanted()) return;
      const jarHeader = x.jar.header(path);
      const sent = { ...headers, ...(jarHeader === undefined ? {} : { cookie: jarHeader }) };
      const { origin, res } = await open(parts, x, hop, {
        method,
        path,
        headers: sent,
        ...(body === undefined ? {} : { body }),
      });
      // Every Set-Cookie updates the jar; only those the browser lacks are reported (`setCookies`),
      // and a client syncs its session only when some are.
      for (const value of setCookieValues(res.headers)) {
        const name = x.jar.apply(value, Date.now(), path);
        if (name !== null) setCookies.add(name);
      }
      const location = firstHeader(res.headers.location);
      if (!REDIRECTS.has(res.statusCode) || location === undefined) {
        await deliver(parts, x, res, {
          url: new URL(path, x.page).href,
          redirected: hop > 0,
          setCookies: [...setCookies],
        });
        return;
      }
      await res.body.dump();
      if (hop === MAX_REDIRECTS)
        throw new UpstreamFailure(502, `The backend failed: more than ${MAX_REDIRECTS} redirects`);
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
    const reason: unknown = x.signal.aborted ? x.signal.reason : undefined;
    const failure =
      reason instanceof UpstreamFailure
        ? reason
        : x.signal.aborted
          ? null
          : err instanceof UpstreamFailure
            ? err
            : undefined;
    if (failure === null) return;
    if (failure === undefined) throw err;
    parts.logger.warn('livewire upstream failed', {
      id: req.id,
      path: req.pathname,
      status: failure.status,
      reason: failure.message,
      err: failure.cause,
    });
    x.out.fail(failure, new URL(path, x.page).href, [...setCookies]);
  }
}

/** Sends one request to the nearest healthy upstream that accepts a connection. */
async function open(
  parts: ExchangeParts,
  x: Exchange,
  hop: number,
  req: { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: string },
): Promise<{ origin: string; res: Dispatcher.ResponseData }> {
  // Nothing has run on an upstream yet only before the first answer: later, HTTP would repeat it.
  const refused = (code: 'backend_unavailable' | 'busy' | 'not_allowed', why: string, cause?: unknown): Error =>
    hop === 0 ? new Fallback(code, why) : new UpstreamFailure(502, `The backend failed: ${why}`, why, { cause });
  const set = parts.upstreams.set;
  const candidates = set.healthyNow() ?? (await set.healthy());
  if (candidates.length === 0) throw refused('backend_unavailable', 'no healthy backend');
  for (const origin of candidates) {
    try {
      return { origin, res: await parts.upstreams.client.request(origin, { ...req, signal: x.signal }) };
    } catch (err) {
      if (x.signal.aborted) throw err;
      if (err instanceof GateRefusal) throw refused('busy', `the backend is busy: ${err.message}`, err);
      if (isInvalidRequest(err))
        throw refused('not_allowed', `the request was refused before sending: ${errorCode(err)}`, err);
      if (isLocalError(err)) {
        parts.logger.warn('livewire request could not open a connection (local resources)', {
          upstream: origin,
          code: errorCode(err),
        });
        throw refused('busy', `this node could not open a connection (${errorCode(err)})`, err);
      }
      if (isConnectError(err)) {
        parts.upstreams.set.markDown(origin, errorCode(err));
        continue;
      }
      if (isTimeout(err)) {
        parts.upstreams.set.markDown(origin, errorCode(err));
        throw new UpstreamFailure(504, 'The backend did not answer in time', 'no answer in time', { cause: err });
      }
      throw new UpstreamFailure(
        502,
        'The backend failed: the connection to the backend failed',
        'the connection broke',
        { cause: err },
      );
    }
  }
  throw refused('backend_unavailable', 'no backend accepted a connection');
}

/** Sends the response: one frame, or a first frame and chunks (streams, long bodies). */
async function deliver(
  parts: ExchangeParts,
  x: Exchange,
  res: Dispatcher.ResponseData,
  meta: Pick<TunnelResponse, 'url' | 'redirected' | 'setCookies'>,
): Promise<void> {
  const head = {
    status: res.statusCode,
    statusText: res.statusText ?? '',
    headers: responseHeaders(res.headers),
    ...meta,
  };
  const limit = parts.config.maxResponseBytes;
  const encoding = firstHeader(res.headers['content-encoding']);
  if (encoding !== undefined && encoding !== 'identity') {
    res.body.destroy();
    throw new UpstreamFailure(
      502,
      `The backend failed: the backend answered with content-encoding ${encoding.slice(0, 40)}`,
    );
  }
  if (!isStream(res.headers)) {
    const held = { bytes: 0 };
    try {
      const text = await collect(parts, x, res, held);
      const [first = '', ...rest] = pieces(text, x.frameChars);
      await x.out.room();
      if (!x.out.response({ ...head, body: first, done: rest.length === 0 })) return;
      for (let i = 0; i < rest.length; i++) {
        await x.out.room();
        if (!x.out.chunk({ chunk: rest[i]!, done: i === rest.length - 1 })) return;
      }
    } finally {
      x.budget.give(held.bytes);
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
    // One piece of the body at a time: the next is read only once this one is on the socket and
    // the socket has room, so a client that does not read stops the reading of the upstream.
    for await (const buf of res.body as AsyncIterable<Buffer>) {
      size += buf.length;
      if (size > limit) {
        parts.logger.warn('livewire streamed response too large', {
          id: x.request.id,
          path: x.request.pathname,
          limit,
        });
        throw new UpstreamFailure(502, TOO_LARGE, `streamed response over maxResponseBytes (${limit})`);
      }
      take(parts, x, buf.length);
      try {
        for (const piece of pieces(decoder.decode(buf, { stream: true }), x.frameChars)) {
          await x.out.room();
          if (!x.out.chunk({ chunk: piece, done: false })) {
            res.body.destroy();
            return;
          }
        }
      } finally {
        x.budget.give(buf.length);
      }
    }
  } catch (err) {
    res.body.destroy();
    if (err instanceof UpstreamFailure || x.signal.aborted) throw err;
    throw new UpstreamFailure(502, 'The backend failed while streaming', 'the stream broke', { cause: err });
  }
  x.out.chunk({ chunk: decoder.decode(), done: true });
}

/**
 * The whole body as text. Over `maxResponseBytes`, or over what its connection, its client address
 * or the node may still hold (budget.ts), an UpstreamFailure 502. Read failures too.
 */
async function collect(
  parts: ExchangeParts,
  x: Exchange,
  res: Dispatcher.ResponseData,
  held: { bytes: number },
): Promise<string> {
  const limit = parts.config.maxResponseBytes;
  // Decoded as it arrives: no second copy of the whole body (a Buffer.concat) is ever held.
  const decoder = new StringDecoder('utf8');
  let text = '';
  try {
    await readBody(res.body, (buf) => {
      if (held.bytes + buf.length > limit) {
        parts.logger.warn('livewire response too large', { id: x.request.id, path: x.request.pathname, limit });
        throw new UpstreamFailure(502, TOO_LARGE, `response over maxResponseBytes (${limit})`);
      }
      take(parts, x, buf.length);
      held.bytes += buf.length;
      text += decoder.write(buf);
      // Read no further while the client's socket is backed up (an earlier response of this
      // connection still queued): the upstream waits, and nothing more is held for a slow reader.
      return x.out.room();
    });
  } catch (err) {
    res.body.destroy();
    if (err instanceof UpstreamFailure || x.signal.aborted) throw err;
    if (isTimeout(err))
      throw new UpstreamFailure(504, 'The backend did not answer in time', 'the response body stalled', { cause: err });
    throw new UpstreamFailure(
      502,
      'The backend failed: the response body was cut off',
      'the response body was cut off',
      { cause: err },
    );
  }
  return text + decoder.end();
}

const OVER_BUDGET: Record<BudgetRefusal['scope'], [log: string, reply: string]> = {
  connection: ['livewire connection holds too many response bytes', "the connection's buffered responses"],
  address: ['livewire client address holds too many response bytes', "the client address's buffered responses"],
  node: ['livewire node holds too many response bytes', "this node's buffered responses"],
};

/** Takes `bytes` of the exchange's budget, or throws the 502 of the budget it would overrun (logged). */
function take(parts: ExchangeParts, x: Exchange, bytes: number): void {
  const refused = x.budget.take(bytes);
  if (refused === undefined) return;
  const [log, what] = OVER_BUDGET[refused.scope];
  parts.logger.warn(log, { id: x.request.id, path: x.request.pathname, setting: refused.setting, cap: refused.cap });
  throw new UpstreamFailure(502, TOO_LARGE, `${what} are over ${refused.setting} (${refused.cap})`);
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
  for (let i = 0; i < text.length;) {
    let end = Math.min(text.length, i + size);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}
