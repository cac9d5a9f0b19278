/**
 * Resumes per client address: a token bucket each (`resumesPerSecond`, a burst of ten times that),
 * so no client, however many sockets it opens, makes the broker replay without limit. At most
 * MAX_ADDRESSES buckets are kept; the least recently used goes first (a full one is forgotten
 * anyway once it refilled).
 */
const MAX_ADDRESSES = 50_000;
const BURST_SECONDS = 10;

interface Bucket {
  tokens: number;
  at: number;
}

export class ResumeBudget {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = Date.now) {}

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
      if (this.buckets.size >= MAX_ADDRESSES) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    this.buckets.set(address, b);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }
}
