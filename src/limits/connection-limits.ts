/**
 * The node-wide and per-address caps on WebSocket connections, checked before any connection
 * state exists. Owns the per-address counts. A refused socket gets 4100 (Pusher's "over
 * capacity": pusher-js backs off and reconnects) and is counted and logged (refusals.ts).
 *
 * The address is the client's as the transport names it (the TCP peer, or the client a trusted
 * proxy names: `trustedProxies`); IPv6 addresses are counted by /64 (client-address.ts). Counted
 * per process: with several workers, each holds its own counts (see docs/security.md).
 */
import { ErrorCodes, fatalError, type PusherError } from '../errors.js';
import type { Refusals } from './refusals.js';
import { addressGroup } from './client-address.js';

export class ConnectionLimits {
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly deps: {
      /** 0 = no limit. */
      maxConnections: number;
      /** 0 = no limit (then addresses are not followed at all). */
      maxConnectionsPerIp: number;
      /** Connections this process holds now. */
      open: () => number;
      refusals: Refusals;
    },
  ) {}

  /** Whether addresses must be passed to opened/closed. */
  get perIp(): boolean {
    return this.deps.maxConnectionsPerIp > 0;
  }

  /** The refusal for a new connection from `address`, or null if it may open. */
  check(client: { readonly remoteAddress: string }): PusherError | null {
    const { maxConnections, maxConnectionsPerIp, refusals } = this.deps;
    if (maxConnections > 0 && this.deps.open() >= maxConnections) {
      refusals.refused(
        'connections',
        client.remoteAddress,
        'refused a connection: the node is at its connection limit',
        { max: maxConnections },
      );
      return fatalError(
        ErrorCodes.OVER_CAPACITY,
        `Over capacity: this server holds at most ${maxConnections} connections`,
      );
    }
    if (maxConnectionsPerIp === 0) return null;
    const address = addressGroup(client.remoteAddress);
    if ((this.perAddress.get(address) ?? 0) >= maxConnectionsPerIp) {
      refusals.refused('connections_per_ip', address, 'refused a connection: too many from one address', {
        max: maxConnectionsPerIp,
      });
      return fatalError(
        ErrorCodes.OVER_CAPACITY,
        `Over capacity: at most ${maxConnectionsPerIp} connections per client address`,
      );
    }
    return null;
  }

  opened(client: string): void {
    if (!this.perIp) return;
    const address = addressGroup(client);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  closed(client: string): void {
    if (!this.perIp) return;
    const address = addressGroup(client);
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
  }
}
