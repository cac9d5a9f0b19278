/**
 * Every TCP socket the client port accepts, counted at accept, before one byte of HTTP is parsed:
 * idle connections, trickled headers, stalled bodies and half-finished upgrades count as much as
 * WebSockets. Two caps:
 *
 * - `maxSockets` in total (0 = none): `limits.maxConnections` plus SOCKET_RESERVE for HTTP
 *   requests (/health, the API) beside a full house of WebSockets; with `"auto"`, still below the
 *   open-file limit by half its headroom (fd-limit.ts), so backends and webhooks get descriptors.
 * - `maxPerAddress` per client address group (client-address.ts: an IPv4 address or an IPv6 /64):
 *   `maxConnectionsPerIp` plus SOCKET_RESERVE (so a client over its WebSocket cap still gets the
 *   4100 close pusher-js backs off on), and at most half of `maxSockets`, so that one address can
 *   never take the whole node. A trusted
 *   proxy's sockets are not counted per address here (its clients are counted per WebSocket by
 *   connection-limits.ts, from X-Forwarded-For).
 *
 * A refused socket is destroyed at once by the transport; the refusal is counted and logged once
 * per episode and address (refusals.ts). The caller reports every accepted socket's end with
 * `release` — refused ones too, so a transport that only learns of a close can always release.
 */
import { addressGroup, type TrustedProxies } from './client-address.js';
import type { Refusals } from './refusals.js';

/** Sockets allowed beyond the WebSocket caps (node, address): room for HTTP requests at a full house. */
export const SOCKET_RESERVE = 64;

/** What a transport asks at accept and tells at close. */
export interface AcceptGate {
  /** Counts the socket; false: refuse it (destroy it now). Either way `release` follows its close. */
  accept(address: string): boolean;
  release(address: string): void;
  /** A socket that has not sent a complete request head within this is destroyed (0 = never). */
  readonly firstRequestMs: number;
}

export class SocketGuard implements AcceptGate {
  private readonly perGroup = new Map<string, number>();
  private total = 0;
  readonly maxSockets: number;
  readonly maxPerAddress: number;

  constructor(
    private readonly deps: {
      /** WebSockets this process may hold (0 = no limit). */
      maxConnections: number;
      /** `limits.maxConnectionsPerIp` (0 = no limit). */
      maxConnectionsPerIp: number;
      firstRequestMs: number;
      proxies: TrustedProxies;
      refusals: Refusals;
    },
  ) {
    this.maxSockets = deps.maxConnections > 0 ? deps.maxConnections + SOCKET_RESERVE : 0;
    const half = Math.ceil(this.maxSockets / 2);
    const perIp = deps.maxConnectionsPerIp === 0 ? 0 : deps.maxConnectionsPerIp + SOCKET_RESERVE;
    this.maxPerAddress = perIp === 0 ? half : half === 0 ? perIp : Math.min(perIp, half);
  }

  get firstRequestMs(): number {
    return this.deps.firstRequestMs;
  }

  /** Sockets open now (tests, metrics). */
  get open(): number {
    return this.total;
  }

  accept(address: string): boolean {
    this.total++;
    const group = this.counted(address);
    const n = group === null ? 0 : (this.perGroup.get(group) ?? 0) + 1;
    if (group !== null) this.perGroup.set(group, n);
    if (this.maxSockets > 0 && this.total > this.maxSockets) {
      this.deps.refusals.refused('sockets', address, 'refused a TCP connection: the node is at its socket limit', {
        max: this.maxSockets,
      });
      return false;
    }
    if (this.maxPerAddress > 0 && n > this.maxPerAddress) {
      this.deps.refusals.refused('sockets_per_ip', group!, 'refused a TCP connection: too many from one address', {
        max: this.maxPerAddress,
      });
      return false;
    }
    return true;
  }

  release(address: string): void {
    this.total--;
    const group = this.counted(address);
    if (group === null) return;
    const n = (this.perGroup.get(group) ?? 1) - 1;
    if (n <= 0) this.perGroup.delete(group);
    else this.perGroup.set(group, n);
  }

  /** The group `address` is counted under, or null when it is not counted per address. */
  private counted(address: string): string | null {
    if (this.maxPerAddress === 0 || this.deps.proxies.has(address)) return null;
    return addressGroup(address);
  }
}
