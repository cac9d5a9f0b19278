/**
 * The HTTP side of the uWebSockets.js transport: copies the request out of uWS's stack-allocated
 * object before anything asynchronous, refuses before the body what its head already fails
 * (http-admission.ts), reads the body up to the cap (413 as soon as the count passes it, as ws.ts),
 * calls the core's handler and writes the answer in one corked write. Keep-alive is uWS's default.
 */
import { STATUS_CODES } from 'node:http';
import type { Logger } from '../log/logger.js';
import type { HttpRequest, HttpResponse } from './types.js';
import type { UwsHttpRequest, UwsHttpResponse } from './uws-api.js';
import { formatAddress } from './uws-address.js';
import { declaredTooLong, type HttpHooks } from './http-admission.js';
import type { TrustedProxies } from '../limits/client-address.js';

export interface UwsHttpDeps {
  /** With their defaults (withDefaultHooks); replaced when the transport starts listening. */
  hooks: HttpHooks;
  logger: Logger;
  maxRequestBodyBytes: number;
  /** Peers that may name the client (X-Forwarded-For / Fly-Client-IP). */
  proxies?: TrustedProxies;
  /** False after stopAccepting(): answers then ask the client to close the connection. */
  accepting(): boolean;
}

/** uWS writes these itself. */
const OWN_HEADERS = new Set(['content-length', 'transfer-encoding']);

const INTERNAL_ERROR: HttpResponse = {
  status: 500,
  headers: { 'content-type': 'application/json' },
  body: '{"error":"Internal server error"}',
};

/** Header names are lower-case; repeated headers are joined with ", " as node:http does. */
export function readHeaders(req: UwsHttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  req.forEach((key, value) => {
    out[key] = Object.hasOwn(out, key) ? `${out[key]}, ${value}` : value;
  });
  return out;
}

export function remoteAddressOf(res: UwsHttpResponse): string {
  return formatAddress(new Uint8Array(res.getRemoteAddress()));
}

/** A response may be written once, and never after the client went away. */
interface Exchange {
  res: UwsHttpResponse;
  open: boolean;
  /** A HEAD request: the answer has headers only (uWS would otherwise write the body). */
  head?: boolean;
}

/** The request as the core sees it, copied out of uWS; the client address is read only if asked. */
class CopiedRequest implements HttpRequest {
  private address: string | null = null;
  /** Empty until the body has been read (admitHttp sees the head only). */
  body: Buffer = EMPTY;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly query: string,
    readonly headers: Record<string, string>,
    private readonly ex: Exchange,
    private readonly proxies: TrustedProxies | undefined,
  ) {}

  /** '' if first asked after the answer was written or the client went away. */
  get remoteAddress(): string {
    if (this.address === null) {
      const peer = this.ex.open ? remoteAddressOf(this.ex.res) : '';
      const proxies = this.proxies;
      this.address =
        proxies === undefined || proxies.size === 0 || peer === '' ? peer : proxies.clientOf(peer, this.headers);
    }
    return this.address;
  }
}

const EMPTY = Buffer.alloc(0);

const statusLines = new Map<number, string>();

function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) statusLines.set(status, (line = `${status} ${STATUS_CODES[status] ?? 'Unknown'}`));
  return line;
}

function write(ex: Exchange, out: HttpResponse, closeConnection: boolean): void {
  if (!ex.open) return;
  ex.open = false;
  ex.res.cork(() => {
    ex.res.writeStatus(statusLine(out.status));
    const headers = out.headers;
    if (headers !== undefined) {
      for (const key in headers) {
        if (OWN_HEADERS.has(key.toLowerCase())) continue;
        const value = headers[key]!;
        for (const v of Array.isArray(value) ? value : [value]) ex.res.writeHeader(key, v);
      }
    }
    // HEAD: no body. (endWithoutBody in this uWS build announces a bogus length or stalls the connection.)
    ex.res.end(ex.head ? '' : out.body, closeConnection);
  });
}

async function answer(ex: Exchange, request: HttpRequest, deps: UwsHttpDeps): Promise<void> {
  let out: HttpResponse;
  try {
    out = await deps.hooks.handleHttp(request);
  } catch (err) {
    deps.logger.error('http handler failed', { err });
    out = INTERNAL_ERROR;
  }
  write(ex, out, !deps.accepting());
}

/** Handles one request; returns synchronously with `onAborted` attached, as uWS requires. */
export function serveHttp(res: UwsHttpResponse, req: UwsHttpRequest, deps: UwsHttpDeps): void {
  // `req` is only valid until this function returns: copy everything first.
  const method = req.getMethod().toUpperCase();
  const path = req.getUrl();
  const query = req.getQuery() ?? '';
  const headers = readHeaders(req);

  const ex: Exchange = { res, open: true, head: method === 'HEAD' };
  if (headers.upgrade !== undefined && /\bupgrade\b/i.test(headers.connection ?? '')) {
    // An upgrade uWS did not accept as a WebSocket handshake: 400, as ws answers (ws.ts).
    write(ex, { status: 400, body: '' }, true);
    return;
  }
  const request = new CopiedRequest(method, path, query, headers, ex, deps.proxies);
  const hooks = deps.hooks;
  const max = hooks.bodyLimit(request);
  const tooLarge = (): HttpResponse => hooks.bodyTooLarge(request);
  if (declaredTooLong(headers, max)) {
    // Refused from Content-Length, before one byte of the body is read; the connection is closed.
    write(ex, tooLarge(), true);
    return;
  }
  // Decided from the head alone (unknown app, bad signature): such a body is never kept.
  const refusal = hooks.admitHttp(request);
  res.onAborted(() => {
    ex.open = false;
  });

  const chunks: Buffer[] = [];
  let size = 0;
  // uWS calls onData for every request, with an empty last chunk when there is no body.
  res.onData((chunk, isLast) => {
    if (!ex.open) return;
    size += chunk.byteLength;
    if (size > max) {
      // Counted while read (chunked, or a false length): cut at the limit, without waiting for the end.
      chunks.length = 0;
      write(ex, refusal ?? tooLarge(), true);
      return;
    }
    // uWS neuters the ArrayBuffer when this callback returns: keep a copy (unless it is discarded).
    if (chunk.byteLength > 0 && refusal === null) chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast) return;
    if (refusal !== null) {
      write(ex, refusal, !deps.accepting());
      return;
    }
    request.body =
      chunks.length === 1 ? (chunks[0] as Buffer) : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, size);
    answer(ex, request, deps).catch((err: unknown) => deps.logger.error('http response failed', { err }));
  });
}

/** Last resort when serveHttp itself threw: uWS aborts the process if a request is left unanswered. */
export function failHttp(res: UwsHttpResponse, logger: Logger, err: unknown): void {
  logger.error('http request handling failed', { err });
  try {
    write({ res, open: true }, INTERNAL_ERROR, true);
  } catch (writeErr) {
    logger.debug('could not answer the failed request', { err: writeErr });
  }
}
