/**
 * What the tunnel keeps for one connection, from its first tunnel event until it closes: the cookie
 * jar, the page and client address the handshake named, the headers every request carries, and the
 * requests in flight with the slots they hold.
 */
import type { UpgradeInfo } from '../transport/types.js';
import { CookieJar, type CookieReader } from './cookies.js';
import { clientOf, connectionHeaders, pageOrigin, type TrustedProxies } from './headers.js';
import type { SessionTarget } from './session-sync.js';

/** A request the connection holds a slot for, until its upstream exchange ends. */
export interface HeldRequest {
  /** No frame of it goes out any more (`wiremesh:abort`); its exchange still runs to its end. */
  abandon(): void;
  /** The connection closed: no frame goes out, and the upstream request is aborted. */
  cancel(): void;
}

export class TunnelConnection implements SessionTarget {
  readonly jar: CookieJar;
  /** The allowed origin the handshake's Origin named; null when it named none (no tunnelling). */
  readonly page: URL | null;
  /** The client's address (through trusted proxies), for logs and per-address budgets. */
  readonly client: string;
  /** Headers of every request of this connection (proxy headers, X-Socket-ID, ...), without cookie. */
  readonly headers: Record<string, string>;
  /** Response bytes held in memory for this connection's requests. */
  buffered = 0;
  private readonly inFlight = new Map<string, HeldRequest>();
  /** Requests the client aborted whose upstream exchange has not ended: they keep their slots. */
  private readonly abandoned = new Set<HeldRequest>();

  constructor(
    handshake: UpgradeInfo,
    socketId: string,
    /** Page origins that may tunnel (and sync): the app's publicUrl first, then allowedOrigins. */
    readonly origins: readonly string[],
    proxies: TrustedProxies,
    cookies?: CookieReader,
  ) {
    this.jar = CookieJar.fromHeader(handshake.headers.cookie, cookies);
    this.page = pageOrigin(handshake, origins);
    this.client = clientOf(handshake, proxies);
    this.headers = this.page ? connectionHeaders(handshake, socketId, this.page, proxies) : {};
  }

  has(id: string): boolean {
    return this.inFlight.has(id);
  }

  /** Slots held: requests in flight and aborted ones whose exchange has not ended. */
  slots(): number {
    return this.inFlight.size + this.abandoned.size;
  }

  begin(id: string, req: HeldRequest): void {
    this.inFlight.set(id, req);
  }

  /** The client gave up `id`: it keeps its slot until `end`. False when no such request is in flight. */
  abandon(id: string): boolean {
    const req = this.inFlight.get(id);
    if (!req) return false;
    this.inFlight.delete(id);
    req.abandon();
    this.abandoned.add(req);
    return true;
  }

  /** The upstream exchange of `id` ended: its slot is free. */
  end(id: string, req: HeldRequest): void {
    if (this.inFlight.get(id) === req) this.inFlight.delete(id);
    this.abandoned.delete(req);
  }

  /** The connection closed: every request is cancelled. */
  close(): void {
    for (const req of [...this.inFlight.values(), ...this.abandoned]) req.cancel();
    this.inFlight.clear();
    this.abandoned.clear();
  }
}
