/**
 * Who else is in the cluster, decided from heartbeats alone (no primary, no registry). Pure state
 * plus a clock: the node (cluster/node.ts) feeds it heartbeats and calls `sweep()` periodically; it answers which
 * nodes are up, which just went down, and which leaving node's hand-off has ended.
 */
export interface NodeInfo {
  nodeId: string;
  lastSeen: number;
  conns: Record<string, number>;
  down: boolean;
  downSince: number;
  /** Graceful leave announced: entries are kept until this time, then removed. 0 = not leaving. */
  leavingUntil: number;
  /** The heartbeat's optional `stats` field, unparsed (only the dashboard reads it). */
  stats?: unknown;
}

export interface SweepResult {
  /** Silent for longer than the node timeout: hide their entries. */
  wentDown: string[];
  /** Down for longer than the forget period, or a leaving node whose hand-off ended: forget them. */
  forget: string[];
}

export class Membership {
  private readonly nodes = new Map<string, NodeInfo>();

  constructor(
    readonly nodeId: string,
    private readonly opts: { nodeTimeoutMs: number; forgetAfterMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a heartbeat. Returns 'new' for a node never seen, 'up' for one that was down, else null. */
  heartbeat(nodeId: string, conns: Record<string, number>, stats?: unknown): 'new' | 'up' | null {
    const now = this.now();
    const n = this.nodes.get(nodeId);
    if (!n) {
      this.nodes.set(nodeId, {
        nodeId,
        lastSeen: now,
        conns,
        down: false,
        downSince: 0,
        leavingUntil: 0,
        stats,
      });
      return 'new';
    }
    n.lastSeen = now;
    n.conns = conns;
    n.stats = stats;
    if (n.leavingUntil > 0) return null;
    if (n.down) {
      n.down = false;
      n.downSince = 0;
      return 'up';
    }
    return null;
  }

  /** A node said goodbye: it no longer counts as live, its entries are dropped after `handoffMs`. */
  leaving(nodeId: string, handoffMs: number): void {
    const n = this.nodes.get(nodeId);
    if (!n) return;
    n.leavingUntil = this.now() + handoffMs;
    n.conns = {};
  }

  /**
   * This node could not hear anyone for `ms` (its own link to the backend was down, or its event
   * loop was blocked while heartbeats waited unread): nobody is blamed for that time. The default
   * forgives every silence up to now.
   */
  forgive(ms = Infinity): void {
    const now = this.now();
    for (const n of this.nodes.values()) if (!n.down) n.lastSeen = Math.min(now, n.lastSeen + ms);
  }

  /**
   * `nodeId` is known gone before its heartbeats time out (its direct connection closed): down now.
   * True if it was live; a leaving node keeps its hand-off.
   */
  gone(nodeId: string): boolean {
    const n = this.nodes.get(nodeId);
    if (!n || n.down || n.leavingUntil > 0) return false;
    n.down = true;
    n.downSince = this.now();
    return true;
  }

  sweep(): SweepResult {
    const now = this.now();
    const out: SweepResult = { wentDown: [], forget: [] };
    for (const n of this.nodes.values()) {
      if (n.leavingUntil > 0) {
        if (now >= n.leavingUntil) out.forget.push(n.nodeId);
      } else if (!n.down && now - n.lastSeen > this.opts.nodeTimeoutMs) {
        n.down = true;
        n.downSince = now;
        out.wentDown.push(n.nodeId);
      } else if (n.down && now - n.downSince > this.opts.forgetAfterMs) {
        out.forget.push(n.nodeId);
      }
    }
    for (const r of out.forget) this.nodes.delete(r);
    return out;
  }

  /** Live nodes other than this one. */
  live(): NodeInfo[] {
    return [...this.nodes.values()].filter((n) => !n.down && n.leavingUntil === 0);
  }

  /** Every node known, whatever its state. */
  all(): NodeInfo[] {
    return [...this.nodes.values()];
  }

  known(nodeId: string): boolean {
    return this.nodes.has(nodeId);
  }

  remoteConnections(appId: string): number {
    let sum = 0;
    for (const n of this.nodes.values()) if (!n.down && n.leavingUntil === 0) sum += n.conns[appId] ?? 0;
    return sum;
  }

  /** True if this node is the one that sends cluster-wide webhooks for `topic`. */
  ownsTopic(topic: string): boolean {
    return this.owner(topic) === this.nodeId;
  }

  /** Whether `nodeId` (a node that just went down) would own `topic` among the live nodes and itself. */
  wouldOwn(nodeId: string, topic: string): boolean {
    const best = this.owner(topic);
    const s = score(nodeId, topic);
    const b = score(best, topic);
    return s > b || (s === b && nodeId > best);
  }

  /** The `n` live nodes (this one included) first in rendezvous order for `topic`, best first. */
  ranked(topic: string, n: number): string[] {
    const all = [{ id: this.nodeId, s: score(this.nodeId, topic) }];
    for (const x of this.nodes.values())
      if (!x.down && x.leavingUntil === 0) all.push({ id: x.nodeId, s: score(x.nodeId, topic) });
    all.sort((a, b) => b.s - a.s || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return all.slice(0, n).map((x) => x.id);
  }

  /**
   * The live node that owns `topic` (rendezvous hashing over live nodes and this one), so each
   * cluster-wide webhook is sent by exactly one node while membership is stable.
   */
  owner(topic: string): string {
    let best = this.nodeId;
    let bestScore = score(this.nodeId, topic);
    for (const n of this.nodes.values()) {
      if (n.down || n.leavingUntil > 0) continue;
      const s = score(n.nodeId, topic);
      if (s > bestScore || (s === bestScore && n.nodeId > best)) {
        best = n.nodeId;
        bestScore = s;
      }
    }
    return best;
  }
}

/**
 * FNV-1a over `nodeId \0 topic`, then murmur3's finalizer. Without the finalizer, topics that
 * differ only in their last characters (`orders-1`, `orders-2`, …) got the same owner: FNV's last
 * step moves a small change of the input into few bits, so the comparison between nodes rarely
 * changed and one node owned (and sequenced, and sent the webhooks of) a whole family of channels.
 */
function score(nodeId: string, topic: string): number {
  let h = 0x811c9dc5;
  const s = nodeId + '\u0000' + topic;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
