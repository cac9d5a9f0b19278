/**
 * Resumes per client address: a token bucket each (a rate per second, a burst of ten times that),
 * so no client, however many sockets it opens, makes this node (and the channel's owner or the
 * broker) replay without limit. At most `maxAddresses` buckets are kept; the least recently used
 * goes first (a full one is forgotten anyway once it refilled). Used by the resume protocol
 * (resumer.ts) and by the broker store's streams (durable/streams.ts, `history.resumesPerSecond`).
 */
const MAX_ADDRESSES = 50_000;
const BURST_SECONDS = 10;

interface Bucket {
  tokens: number;
  at: number;
}

export class ResumeBudget {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxAddresses = MAX_ADDRESSES,
  ) {}

  /** Takes one resume from `address`'s budget; false when it has none left. */
  take(address: string, perSecond: number): boolean {
    const now = this.now();
    const burst = perSecond * BURST_SECONDS;
    let b = this.buckets.get(address);
    if (b) {
      this.buckets.delete(address); // re-inserted last: Map order is the LRU order
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1_000) * perSecond);
      b.at = now;
    } else {
      b = { tokens: burst, at: now };
      if (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    this.buckets.set(address, b);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }
}
