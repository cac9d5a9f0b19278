/**
 * HTTP to the upstreams (the app's Laravel servers) of one app: an undici keep-alive Pool per
 * upstream origin, created on first use, behind a Gate that bounds what waits for it. Never follows
 * redirects (the exchange does, to keep cookies and the same-origin rule).
 */
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from '../log/logger.js';
import { Gate } from './gate.js';

/** Connections kept per upstream origin (each carries one request at a time). */
export const POOL_CONNECTIONS = 64;

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

export class UpstreamClient {
  private readonly pools = new Map<string, { pool: Pool; gate: Gate }>();

  constructor(
    private readonly options: {
      /** headersTimeout and bodyTimeout of every request. */
      timeoutMs: number;
      /** TLS server name for upstreams addressed by IP (those found by DNS). */
      servername?: string;
      /** Requests waiting for a connection to one upstream, and for how long at most. */
      maxQueued: number;
      queueTimeoutMs: number;
      logger: Logger;
    },
  ) {}

  /**
   * One request. Rejects GateRefusal when it could not be dispatched in time (nothing was sent).
   * Its connection slot is held until the response body has ended or been destroyed.
   */
  async request(origin: string, req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const { pool, gate } = this.pool(origin);
    // A free slot is taken without a turn through the promise queue (the common case).
    const release = gate.tryAcquire(req.signal) ?? (await gate.acquire(req.signal));
    try {
      const res = await pool.request({
        method: req.method,
        path: req.path,
        headers: req.headers,
        body: req.body ?? null,
        signal: req.signal,
      });
      if (res.body.closed) release();
      else res.body.once('close', release);
      return res;
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Slots in use and requests waiting for one upstream (tests, metrics). */
  load(origin: string): { inUse: number; queued: number } {
    const entry = this.pools.get(origin);
    return { inUse: entry?.gate.inUse ?? 0, queued: entry?.gate.queued ?? 0 };
  }

  /** A health check: GET `path`, true when it answers below 500 within `timeoutMs`. Never rejects. */
  async probe(origin: string, path: string, timeoutMs: number): Promise<boolean> {
    try {
      const res = await this.pool(origin).pool.request({
        method: 'GET',
        path,
        headers: { 'user-agent': 'wiremesh-health', 'accept-encoding': 'identity' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      return res.statusCode < 500;
    } catch (err) {
      this.options.logger.debug('livewire health check failed', { upstream: origin, err });
      return false;
    }
  }

  /** Closes the connections to an upstream that is gone (requests in flight finish first). */
  forget(origin: string): void {
    const entry = this.pools.get(origin);
    if (!entry) return;
    this.pools.delete(origin);
    entry.pool
      .close()
      .catch((err: unknown) => this.options.logger.debug('closing an upstream pool failed', { upstream: origin, err }));
  }

  /** Cuts every connection; requests in flight fail. */
  async close(): Promise<void> {
    const entries = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(entries.map((e) => e.pool.destroy()));
  }

  private pool(origin: string): { pool: Pool; gate: Gate } {
    let entry = this.pools.get(origin);
    if (!entry) {
      const t = this.options.timeoutMs;
      const pool = new Pool(origin, {
        connections: POOL_CONNECTIONS,
        headersTimeout: t,
        bodyTimeout: t,
        keepAliveTimeout: 10_000,
        keepAliveMaxTimeout: 60_000,
        connect: {
          timeout: Math.min(t, 10_000),
          ...(this.options.servername ? { servername: this.options.servername } : {}),
        },
      });
      entry = { pool, gate: new Gate(POOL_CONNECTIONS, this.options.maxQueued, this.options.queueTimeoutMs) };
      this.pools.set(origin, entry);
    }
    return entry;
  }
}

/**
 * Errors raised before the request was sent because the upstream could not be reached: another
 * upstream may be tried, HTTP may be used, and this one is marked down.
 */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown';
}

/** Local failures to open a connection (out of descriptors, ports, memory): the request never left, but the upstream is fine. */
const LOCAL_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRINUSE']);

export function isLocalError(err: unknown): boolean {
  return LOCAL_ERRORS.has(errorCode(err));
}

/** undici refused the request as written (a header value it does not accept, ...): the client's input, never sent. */
export function isInvalidRequest(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED';
}

/** True when the upstream could not be reached: connect refused or timed out, DNS or TLS failed. */
export function isConnectError(err: unknown): boolean {
  const code = errorCode(err);
  return CONNECT_ERRORS.has(code) || code.startsWith('ERR_TLS_') || /CERT|UNABLE_TO_|SELF_SIGNED/.test(code);
}

export function isTimeout(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}
