/**
 * Presence replication between nodes (Phoenix.Tracker's scheme), as a feature of the cluster node:
 * every heartbeat carries this node's clock and its delta since the last one (`{ clock, delta }`,
 * added to the node's heartbeat); a receiver that sees a gap, or a clock ahead of what it holds,
 * asks that node for a snapshot of its entries (`snap_req` → `snap`, at most once per
 * `SNAPSHOT_RETRY_MS` per node). Local changes ask the node for an early heartbeat
 * (presence/service.ts), so they leave batched within the cluster's delta delay.
 *
 * It only carries deltas and snapshots: the state is owned by the presence service (`store`), which
 * decides the transitions; who is alive is decided by the node's membership. Wire fields are as
 * every earlier build sends them: `hb { clock, delta }`, `snap_req { replica }`, `snap { snapshot }`.
 */
import type { ClusterControl, ClusterFeature, ControlFields, ControlMessage, Seen } from '../cluster/types.js';
import type { ReplicaStore } from './service.js';
import type { Delta, Snapshot } from './state.js';
import { checkReplicaId } from './wire.js';

export const SNAPSHOT_RETRY_MS = 2_000;

export class PresenceReplication implements ClusterFeature {
  readonly name = 'presence';
  readonly messages = {
    snap_req: (msg: ControlMessage): void => this.snapshotRequested(msg),
    snap: (msg: ControlMessage): void => this.snapshotReceived(msg),
  };
  /** Node → when its snapshot was last asked for (or until when it is held off). */
  private readonly snapRequested = new Map<string, number>();
  /** Node → the clock it last announced for its own entries (to know when this node caught up). */
  private readonly announced = new Map<string, number>();
  private readonly now: () => number;

  /** Registered with `node` by the composition root, before the node joins. */
  constructor(
    private readonly deps: {
      node: Pick<ClusterControl, 'send' | 'membership'>;
      store: ReplicaStore;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** This node's clock and its delta since the last heartbeat. */
  heartbeat(): ControlFields {
    const delta = this.deps.store.takeDelta();
    return { clock: this.deps.store.clockOf(this.deps.store.nodeId), delta };
  }

  /** This node's connection to the others came back: pending requests are void. */
  reconnected(): void {
    this.snapRequested.clear();
  }

  /** Live nodes whose announced entries this node does not hold yet. */
  behind(): string[] {
    const { store, node } = this.deps;
    return node.membership
      .live()
      .filter((n) => store.clockOf(n.nodeId) < (this.announced.get(n.nodeId) ?? 0))
      .map((n) => n.nodeId);
  }

  /** Another node's heartbeat (membership already said whether it is new or back). */
  heard(hb: ControlMessage, seen: Seen): void {
    const { store } = this.deps;
    const { from, clock, delta } = hb;
    if (!Number.isSafeInteger(clock) || (clock as number) < 0)
      throw new TypeError('presence: heartbeat clock must be a non-negative integer');
    this.announced.set(from, clock as number);
    if (seen === 'up') store.replicaUp(from);
    if (delta) {
      const { gap } = store.mergeDelta(delta as Delta); // checked whole by the store
      if (gap) this.requestSnapshot(from);
    } else if (store.clockOf(from) < (clock as number)) {
      this.requestSnapshot(from);
    }
  }

  private snapshotRequested(msg: ControlMessage): void {
    checkReplicaId(msg.replica, 'presence snap_req: replica');
    this.deps.node.send('snap', { snapshot: this.deps.store.snapshot(msg.replica as string) }, msg.from);
  }

  private snapshotReceived(msg: ControlMessage): void {
    const snapshot = msg.snapshot as Snapshot | null;
    if (snapshot === null || typeof snapshot !== 'object') throw new TypeError('presence: snap without a snapshot');
    const nodeId = snapshot.replica;
    this.snapRequested.delete(nodeId);
    if (nodeId === this.deps.store.nodeId || !this.deps.node.membership.known(nodeId)) return;
    this.deps.store.mergeSnapshot(snapshot); // checked whole by the store
  }

  /** Membership decided `nodeId` is down: hide its entries (they come back if it does). */
  nodeDown(nodeId: string): void {
    this.deps.store.replicaDown(nodeId);
  }

  /** Membership forgot `nodeId`: drop its entries for good. */
  nodeForgotten(nodeId: string): void {
    this.deps.store.removeReplica(nodeId);
    this.snapRequested.delete(nodeId);
    this.announced.delete(nodeId);
  }

  private requestSnapshot(nodeId: string): void {
    const now = this.now();
    const last = this.snapRequested.get(nodeId);
    if (last !== undefined && now - last < SNAPSHOT_RETRY_MS) return;
    this.snapRequested.set(nodeId, now);
    this.deps.node.send('snap_req', { replica: nodeId }, nodeId);
  }
}
