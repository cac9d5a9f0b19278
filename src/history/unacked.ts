/**
 * What this node sent other nodes to sequence and they have not acknowledged yet (history/wire.ts
 * `seq` with an `id`, answered by `ack`), per node, oldest first: sent again to the next owner if
 * that node goes down (history/streams.ts). An owner acknowledges within a turn of its event loop,
 * so little is kept; a node that stops answering without being found down (a silent host, until
 * the node timeout) makes it grow, so it is bounded per node by count and bytes: beyond them the
 * oldest go, and are counted.
 */
export interface Sent {
  id: number;
  appId: string;
  topic: string;
  frame: string;
  except: string | undefined;
}

interface Queue {
  events: Sent[];
  bytes: number;
  /** Events dropped for the bounds since the last take(). */
  dropped: number;
}

export const UNACKED_LIMITS = { events: 10_000, bytes: 16 * 1024 * 1024 };

export class Unacked {
  private readonly byNode = new Map<string, Queue>();

  constructor(private readonly limits = UNACKED_LIMITS) {}

  add(to: string, e: Sent): void {
    let q = this.byNode.get(to);
    if (!q) this.byNode.set(to, (q = { events: [], bytes: 0, dropped: 0 }));
    q.events.push(e);
    q.bytes += e.frame.length;
    while (q.events.length > 1 && (q.events.length > this.limits.events || q.bytes > this.limits.bytes)) {
      q.bytes -= (q.events.shift() as Sent).frame.length;
      q.dropped++;
    }
  }

  /** `from` sequenced everything sent to it up to the event `upTo`, in the order sent. */
  ack(from: string, upTo: number): void {
    const q = this.byNode.get(from);
    if (!q) return;
    const at = q.events.findIndex((e) => e.id === upTo);
    if (at < 0) return;
    for (const e of q.events.splice(0, at + 1)) q.bytes -= e.frame.length;
    if (q.events.length === 0 && q.dropped === 0) this.byNode.delete(from);
  }

  /** Everything `nodeId` did not acknowledge, and how many more were dropped for the bounds; forgotten here. */
  take(nodeId: string): { events: Sent[]; dropped: number } {
    const q = this.byNode.get(nodeId);
    this.byNode.delete(nodeId);
    return q ? { events: q.events, dropped: q.dropped } : { events: [], dropped: 0 };
  }
}
