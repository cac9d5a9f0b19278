/**
 * Presence replication between nodes (Phoenix.Tracker's scheme): every heartbeat carries this
 * node's delta since the last one and its own clock; a receiver that sees a gap, or a clock ahead
 * of what it holds, asks that node for a snapshot of its entries (at most once per
 * `SNAPSHOT_RETRY_MS` per node). Local changes are sent after at most `deltaDelayMs`, batched.
 *
 * It only carries deltas and snapshots: the state is owned by the presence service (`store`), which
 * decides the transitions; who is alive is decided by Membership; bytes go through `send`.
 */
import type { Logger } from '../log/logger.js';
import type { ControlMessage } from '../cluster/envelope.js';
import type { NodeInfo } from '../cluster/membership.js';
import type { ReplicaStore } from './service.js';

type Hb = Extract<ControlMessage, { type: 'hb' }>;
type SnapReq = Extract<ControlMessage, { type: 'snap_req' }>;
type Snap = Extract<ControlMessage, { type: 'snap' }>;

export const SNAPSHOT_RETRY_MS = 2_000;
/** After a node's state was refused (over the cap per node), no snapshot is asked of it for this long. */
export const REFUSED_HOLD_OFF_MS = 30_000;

export interface ReplicatorDeps {
  store: ReplicaStore;
  /** Sends a control message to every node, or to one (`to`). At most once. */
  send: (msg: ControlMessage, to?: string) => void;
  /** Who else is there (the cluster's membership). */
  membership: { known(replica: string): boolean; live(): NodeInfo[] };
  /** This node's connections per app, announced with each heartbeat. */
  connections: () => Record<string, number>;
  /** Extra node info for the heartbeat's optional `stats` field (dashboard/stats.ts); undefined = none. */
  stats?: () => unknown;
  deltaDelayMs: number;
  logger: Logger;
  now?: () => number;
}

export class Replicator {
  private readonly snapRequested = new Map<string, number>();
  private readonly now: () => number;
  private deltaTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly deps: ReplicatorDeps) {
    this.now = deps.now ?? Date.now;
  }

  private get self(): string {
    return this.deps.store.replica;
  }

  /** Local presence changed: send the delta soon, batched with others. */
  localChanged(): void {
    if (this.deltaTimer || this.stopped) return;
    this.deltaTimer = setTimeout(() => {
      this.deltaTimer = null;
      this.beat();
    }, this.deps.deltaDelayMs);
    this.deltaTimer.unref();
  }

  /** Sends a heartbeat with the delta accumulated since the last one. */
  beat(): void {
    const { store } = this.deps;
    const delta = store.takeDelta();
    const stats = this.deps.stats?.();
    const conns = this.deps.connections();
    this.deps.send({
      v: 1,
      type: 'hb',
      from: this.self,
      clock: store.clockOf(this.self),
      delta,
      conns,
      ...(stats !== undefined ? { stats } : {}),
    });
  }

  /** A heartbeat from another node (already recorded by Membership, which said whether it is new or back). */
  heartbeat(msg: Hb, seen: 'new' | 'up' | null): void {
    const { store } = this.deps;
    if (seen === 'new') this.localChanged(); // let the newcomer hear from us soon
    if (seen === 'up') store.replicaUp(msg.from);
    if (msg.delta) {
      const { gap, refused } = store.mergeDelta(msg.delta);
      if (refused) this.holdOff(msg.from);
      else if (gap) this.requestSnapshot(msg.from);
    } else if (store.clockOf(msg.from) < msg.clock) {
      this.requestSnapshot(msg.from);
    }
  }

  snapshotRequested(msg: SnapReq): void {
    this.deps.send({ v: 1, type: 'snap', from: this.self, snapshot: this.deps.store.snapshot(msg.replica) }, msg.from);
  }

  snapshotReceived(msg: Snap): void {
    const replica = msg.snapshot.replica;
    this.snapRequested.delete(replica);
    if (replica === this.self || !this.deps.membership.known(replica)) return;
    if (!this.deps.store.mergeSnapshot(msg.snapshot)) this.holdOff(replica);
  }

  /** Asks `replica` for nothing until REFUSED_HOLD_OFF_MS from now (its state was refused). */
  private holdOff(replica: string): void {
    this.snapRequested.set(replica, this.now() + REFUSED_HOLD_OFF_MS);
  }

  /** Membership decided `replica` is down: hide its entries (they come back if it does). */
  nodeDown(replica: string): void {
    this.deps.store.replicaDown(replica);
  }

  /** Membership forgot `replica`: drop its entries for good. */
  nodeForgotten(replica: string): void {
    this.deps.store.removeReplica(replica);
    this.snapRequested.delete(replica);
  }

  /** Our own connection to the others came back: forget pending requests and announce ourselves. */
  resync(): void {
    this.snapRequested.clear();
    this.beat();
  }

  /** Live nodes whose announced entries we do not hold yet. */
  behind(): string[] {
    const { store, membership } = this.deps;
    return membership
      .live()
      .filter((n) => store.clockOf(n.replica) < n.clock)
      .map((n) => n.replica);
  }

  stop(): void {
    this.stopped = true;
    if (this.deltaTimer) clearTimeout(this.deltaTimer);
    this.deltaTimer = null;
  }

  private requestSnapshot(replica: string): void {
    const now = this.now();
    const last = this.snapRequested.get(replica);
    if (last !== undefined && now - last < SNAPSHOT_RETRY_MS) return;
    this.snapRequested.set(replica, now);
    this.deps.send({ v: 1, type: 'snap_req', from: this.self, replica }, replica);
  }
}
