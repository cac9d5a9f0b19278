/**
 * HTTP to the backends of one app: an undici keep-alive Pool per backend origin, created on first
 * use. Never follows redirects (the exchange does, to keep cookies and the same-origin rule).
 */
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from '../log/logger.js';

/** Connections kept per backend origin (each carries one request at a time). */
export const POOL_CONNECTIONS = 64;

export interface BackendRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

export class BackendClient {
  private readonly pools = new Map<string, Pool>();

  constructor(
    private readonly options: {
      /** headersTimeout and bodyTimeout of every request. */
      timeoutMs: number;
      /** TLS server name for backends addressed by IP (those found by DNS). */
      servername?: string;
      logger: Logger;
    },
  ) {}

  request(origin: string, req: BackendRequest): Promise<Dispatcher.ResponseData> {
    return this.pool(origin).request({
      method: req.method,
      path: req.path,
      headers: req.headers,
      body: req.body ?? null,
      signal: req.signal,
    });
  }

  /** A health check: GET `path`, true when it answers below 500 within `timeoutMs`. Never rejects. */
  async probe(origin: string, path: string, timeoutMs: number): Promise<boolean> {
    try {
      const res = await this.pool(origin).request({
        method: 'GET',
        path,
        headers: { 'user-agent': 'wiremesh-health', 'accept-encoding': 'identity' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      return res.statusCode < 500;
    } catch (err) {
      this.options.logger.debug('livewire health check failed', { backend: origin, err });
      return false;
    }
  }

  /** Closes the connections to a backend that is gone (requests in flight finish first). */
  forget(origin: string): void {
    const pool = this.pools.get(origin);
    if (!pool) return;
    this.pools.delete(origin);
    pool.close().catch((err: unknown) => this.options.logger.debug('closing a backend pool failed', { backend: origin, err }));
  }

  /** Cuts every connection; requests in flight fail. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }

  private pool(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      const t = this.options.timeoutMs;
      pool = new Pool(origin, {
        connections: POOL_CONNECTIONS,
        headersTimeout: t,
        bodyTimeout: t,
        keepAliveTimeout: 10_000,
        keepAliveMaxTimeout: 60_000,
        connect: { timeout: Math.min(t, 10_000), ...(this.options.servername ? { servername: this.options.servername } : {}) },
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }
}

/** Errors raised before the request was sent: another backend may be tried, and HTTP may be used. */
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

/** True when the request never left: connect refused or timed out, DNS or TLS failed. */
export function isConnectError(err: unknown): boolean {
  const code = errorCode(err);
  return CONNECT_ERRORS.has(code) || code.startsWith('ERR_TLS_') || /CERT|UNABLE_TO_|SELF_SIGNED/.test(code);
}

export function isTimeout(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}
