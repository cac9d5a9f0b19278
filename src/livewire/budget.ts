/**
 * The upstream response bytes the tunnel holds in memory (a body is read whole before it is sent,
 * and waits there while its client's socket is backed up), bounded three ways: per connection
 * (`livewire.maxBufferedResponseBytes`), per client address (`limits.maxTunnelBufferedBytesPerIp`,
 * over all its connections) and for the node (`limits.maxTunnelBufferedBytes`). A cap of 0 is no
 * limit. Bytes are taken as they are read from the upstream and given back once sent.
 */

/** Which budget a take would overrun: its scope, its setting, its cap. */
export interface BudgetRefusal {
  readonly scope: 'connection' | 'address' | 'node';
  readonly setting: string;
  readonly cap: number;
}

/** The budget of one request: bytes are taken before they are held, and given back once sent. */
export interface ByteBudget {
  /** Takes `bytes`, or leaves everything as it was and says which budget is over. */
  take(bytes: number): BudgetRefusal | undefined;
  give(bytes: number): void;
}

/** What the node's budget keeps of one connection. */
export interface BudgetHolder {
  /** The client's address (through trusted proxies). */
  readonly client: string;
  /** Bytes this connection's requests hold. */
  buffered: number;
}

export class ResponseBudgets {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly caps: { node: number; perAddress: number }) {}

  /** Bytes held by the whole node (metrics, tests). */
  held(): number {
    return this.total;
  }

  /**
   * Why a new request of `client` must not start: its address or the node could not hold one more
   * response of `maxResponseBytes` (nothing has run yet, so HTTP may carry it). Undefined when it may.
   */
  full(client: string, maxResponseBytes: number): BudgetRefusal | undefined {
    return this.over(client, maxResponseBytes);
  }

  /** The budget of one request of `holder`, whose own cap is `connectionCap`. */
  of(holder: BudgetHolder, connectionCap: number): ByteBudget {
    return {
      take: (bytes) => {
        if (connectionCap !== 0 && holder.buffered + bytes > connectionCap)
          return { scope: 'connection', setting: 'livewire.maxBufferedResponseBytes', cap: connectionCap };
        const refused = this.over(holder.client, bytes);
        if (refused) return refused;
        holder.buffered += bytes;
        this.total += bytes;
        this.byAddress.set(holder.client, (this.byAddress.get(holder.client) ?? 0) + bytes);
        return undefined;
      },
      give: (bytes) => {
        holder.buffered -= bytes;
        this.total -= bytes;
        const left = (this.byAddress.get(holder.client) ?? 0) - bytes;
        if (left > 0) this.byAddress.set(holder.client, left);
        else this.byAddress.delete(holder.client);
      },
    };
  }

  private over(client: string, bytes: number): BudgetRefusal | undefined {
    const { perAddress, node } = this.caps;
    if (perAddress !== 0 && (this.byAddress.get(client) ?? 0) + bytes > perAddress)
      return { scope: 'address', setting: 'limits.maxTunnelBufferedBytesPerIp', cap: perAddress };
    if (node !== 0 && this.total + bytes > node)
      return { scope: 'node', setting: 'limits.maxTunnelBufferedBytes', cap: node };
    return undefined;
  }
}
