/**
 * The Livewire tunnel's wire frames, built and read in this one module. The server side
 * (src/protocol/frames.ts, src/livewire/request.ts) speaks the same names; the contract test
 * (test/livewire-contract.test.ts) builds frames on each side and reads them with the other.
 *
 *   client → server  wiremesh:request  {id, method, path, headers, body}
 *   client → server  wiremesh:abort    {id}
 *   server → client  wiremesh:response {id, status, statusText, headers, url, redirected, body, done, setCookies}
 *   server → client  wiremesh:chunk    {id, chunk, done}            (only after a response with done:false)
 *   server → client  wiremesh:fallback {id, reason, code}           (not executed: send it over HTTP)
 *   client → server  wiremesh:session  {pageAgeMs}                  (once per connection)
 *   server → client  wiremesh:session  {token, sync, reason, path, maxFrameBytes}  (session.ts)
 */

export const TunnelEvents = {
  request: 'wiremesh:request',
  abort: 'wiremesh:abort',
  response: 'wiremesh:response',
  chunk: 'wiremesh:chunk',
  fallback: 'wiremesh:fallback',
  session: 'wiremesh:session',
} as const;

export interface SessionFrame {
  /** POSTed to `path` on the socket's origin to sync cookies; '' when `sync` is false. */
  readonly token: string;
  /** False: the browser's cookies cannot follow this socket (another host): keep updates on HTTP. */
  readonly sync: boolean;
  readonly reason: string;
  readonly path: string;
  /** The largest frame the server reads; DEFAULT_MAX_FRAME_BYTES when it does not say. */
  readonly maxFrameBytes: number;
}

/** The frame limit assumed when the server does not announce one (wiremesh's default `limits.maxFrameBytes`). */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024;

/** Reads a `wiremesh:session` frame; undefined for any other message. */
export function parseSessionFrame(message: unknown): SessionFrame | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { event, data } = message as { event?: unknown; data?: unknown };
  if (event !== TunnelEvents.session) return undefined;
  const f = frameData(data);
  if (f === undefined) return undefined;
  return {
    token: typeof f.token === 'string' ? f.token : '',
    sync: f.sync === true,
    reason: typeof f.reason === 'string' ? f.reason : '',
    path: typeof f.path === 'string' ? f.path : '/wiremesh/session',
    maxFrameBytes:
      typeof f.maxFrameBytes === 'number' && Number.isInteger(f.maxFrameBytes) && f.maxFrameBytes >= 1024
        ? f.maxFrameBytes
        : DEFAULT_MAX_FRAME_BYTES,
  };
}

/** Longest request id the server accepts. */
export const MAX_ID_LENGTH = 64;

/**
 * The `code`s of `wiremesh:fallback` (nothing ran: send it over HTTP). The client treats them
 * alike; listed so test/livewire-contract.test.ts can hold them to the server's FallbackCode.
 */
export const FALLBACK_CODES = ['not_allowed', 'busy', 'backend_unavailable', 'too_large', 'disabled'] as const;

export interface RequestFrame {
  readonly id: string;
  readonly method: string;
  /** pathname + search of a same-origin URL. */
  readonly path: string;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** UTF-8 text. */
  readonly body: string;
}

export interface AbortFrame {
  readonly id: string;
}

export interface ResponseFrame {
  readonly id: string;
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly url: string;
  readonly redirected: boolean;
  readonly body: string;
  /** false: `wiremesh:chunk` frames carry the rest of the body. */
  readonly done: boolean;
  /** Names of cookies the backend set that the browser did not receive. */
  readonly setCookies: readonly string[];
}

export interface ChunkFrame {
  readonly id: string;
  readonly chunk: string;
  readonly done: boolean;
  /** Only on a last chunk whose body was cut short (the backend failed, or it grew too large). */
  readonly error?: string;
}

export interface FallbackFrame {
  readonly id: string;
  readonly reason: string;
  /** The server's machine-readable reason (`not_allowed`, `busy`, `backend_unavailable`, …). */
  readonly code: string | number;
}

/** A frame for the tunnel, read from one pusher-js `message` event. */
export type ServerFrame =
  | { readonly type: 'response'; readonly frame: ResponseFrame }
  | { readonly type: 'chunk'; readonly frame: ChunkFrame }
  | { readonly type: 'fallback'; readonly frame: FallbackFrame }
  /** A tunnel frame with a usable id but a shape we cannot trust: that request fails. */
  | { readonly type: 'invalid'; readonly id: string; readonly problem: string };

export function requestFrame(id: string, request: Omit<RequestFrame, 'id'>): RequestFrame {
  return { id, method: request.method, path: request.path, headers: request.headers, body: request.body };
}

export function abortFrame(id: string): AbortFrame {
  return { id };
}

export function fallbackFrame(id: string, reason: string, code: string | number): FallbackFrame {
  return { id, reason, code };
}

type Fields = Record<string, unknown>;

/** pusher-js hands `data` over parsed when it was JSON, as a string otherwise; accept both. */
export function frameData(data: unknown): Fields | undefined {
  let value = data;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined; // not JSON: not one of ours
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

/** The request id a tunnel frame is about, or undefined for any other message. */
export function frameId(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { event, data } = message as { event?: unknown; data?: unknown };
  if (typeof event !== 'string' || !event.startsWith('wiremesh:')) return undefined;
  const id = frameData(data)?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** True when this frame is the last one the server sends for its request. */
export function isFinalFrame(message: unknown): boolean {
  const { event, data } = message as { event?: unknown; data?: unknown };
  const fields = frameData(data);
  if (event === TunnelEvents.fallback) return true;
  if (event === TunnelEvents.response || event === TunnelEvents.chunk) return fields?.done !== false;
  return false;
}

/** Reads one pusher-js message; undefined when it is not a tunnel frame addressed by id. */
export function parseServerFrame(message: unknown): ServerFrame | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { event, data, channel } = message as { event?: unknown; data?: unknown; channel?: unknown };
  if (channel !== undefined && channel !== null) return undefined; // tunnel frames are connection-level
  const fields = frameData(data);
  const id = fields?.id;
  if (fields === undefined || typeof id !== 'string' || id === '') return undefined;
  switch (event) {
    case TunnelEvents.response:
      return readResponse(id, fields);
    case TunnelEvents.chunk: {
      const chunk = fields.chunk ?? '';
      if (typeof chunk !== 'string') return invalid(id, 'chunk is not a string');
      const error = typeof fields.error === 'string' && fields.error !== '' ? fields.error : undefined;
      return {
        type: 'chunk',
        frame: {
          id,
          chunk,
          done: fields.done === true || error !== undefined,
          ...(error === undefined ? {} : { error }),
        },
      };
    }
    case TunnelEvents.fallback: {
      const reason = typeof fields.reason === 'string' ? fields.reason : '';
      const code = typeof fields.code === 'number' || typeof fields.code === 'string' ? fields.code : '';
      return { type: 'fallback', frame: { id, reason, code } };
    }
    default:
      return undefined;
  }
}

function readResponse(id: string, f: Fields): ServerFrame {
  const status = f.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    return invalid(id, `status ${String(status)} is not a final HTTP status`);
  }
  const headers = f.headers ?? [];
  if (!Array.isArray(headers) || !headers.every(isHeaderPair))
    return invalid(id, 'headers is not a list of [name, value]');
  const body = f.body ?? '';
  if (typeof body !== 'string') return invalid(id, 'body is not a string');
  const setCookies = Array.isArray(f.setCookies) ? f.setCookies.filter((n): n is string => typeof n === 'string') : [];
  return {
    type: 'response',
    frame: {
      id,
      status,
      statusText: typeof f.statusText === 'string' ? f.statusText : '',
      headers: headers as Array<[string, string]>,
      url: typeof f.url === 'string' ? f.url : '',
      redirected: f.redirected === true,
      body,
      done: f.done !== false,
      setCookies,
    },
  };
}

function isHeaderPair(pair: unknown): boolean {
  return Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && typeof pair[1] === 'string';
}

function invalid(id: string, problem: string): ServerFrame {
  return { type: 'invalid', id, problem };
}
