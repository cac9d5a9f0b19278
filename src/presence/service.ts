/**
 * The one owner of the cluster's subscription and presence state as this node knows it: the
 * replicated tracker (each node owns its sockets' entries) and the view that derives transitions
 * from it. Local joins and leaves and changes merged from other nodes go through here alike; the
 * transitions they cause are handed to one sink (frames, webhooks, watchlists), decided by the
 * state itself, never read-then-act.
 *
 * Every subscription is an entry: key = user id on presence channels and on the users topic, the
 * socket id elsewhere.
 */
import { TrackerState, type Change, type Delta, type Snapshot } from './state.js';
import { PresenceView, type Transition } from './view.js';
import type { Refusals } from '../limits/refusals.js';

/** Where transitions go (implemented by core/effects.ts). */
export interface TransitionSink {
  apply(transitions: Transition[]): void;
}

/** What replication (presence/cluster.ts) may do to the state: read the own delta, merge other nodes' state. */
export interface ReplicaStore {
  readonly nodeId: string;
  /** Own ops since the last call, or null. */
  takeDelta(): Delta | null;
  /** Highest contiguous clock seen for `nodeId`. */
  clockOf(nodeId: string): number;
  snapshot(nodeId: string): Snapshot;
  /** Merges a remote delta; `gap` says a snapshot is needed, `refused` that it would exceed the cap per node. */
  mergeDelta(delta: Delta): { gap: boolean; refused: boolean };
  /** Merges a snapshot; false if it was refused (more entries than the cap per node). */
  mergeSnapshot(snapshot: Snapshot): boolean;
  replicaDown(nodeId: string): void;
  replicaUp(nodeId: string): void;
  removeReplica(nodeId: string): void;
}

/** A cluster node: how local changes leave this node, and how much it keeps for each other node. */
export interface Replicated {
  /** Local presence changed: the node's next heartbeat carries the delta (sent soon, batched). */
  heartbeat: { beatSoon(): void };
  /**
   * Entries (subscriptions) kept for one other node at most; a delta or snapshot that would go
   * beyond is refused whole (counted and logged), so a faulty or hostile node cannot grow this
   * node's memory without bound. 0 = no limit.
   */
  maxEntriesPerNode: number;
  refusals: Refusals;
}

export class PresenceService implements ReplicaStore {
  private readonly state: TrackerState;
  private readonly maxEntriesPerNode: number;
  private readonly refusals: Refusals | null;
  private readonly heartbeat: { beatSoon(): void } | null;

  /**
   * `replicated`: other nodes take this node's deltas (a cluster, presence/cluster.ts); absent on a
   * single node. `view`: the derived view, given when a part built before this service reads it
   * (the shared fragments, which are also in the sink).
   */
  constructor(
    readonly nodeId: string,
    private readonly sink: TransitionSink,
    replicated?: Replicated,
    readonly view: PresenceView = new PresenceView(),
  ) {
    this.state = new TrackerState(nodeId, { recordDeltas: replicated !== undefined });
    this.maxEntriesPerNode = replicated?.maxEntriesPerNode ?? 0;
    this.refusals = replicated?.refusals ?? null;
    this.heartbeat = replicated?.heartbeat ?? null;
  }

  /** Entries held, this node's and the replicated ones of the others (a gauge). */
  entries(): number {
    return this.state.size();
  }

  // ---- local changes (this node's sockets) ----

  join(topic: string, key: string, socketId: string, meta: unknown): void {
    this.local(this.state.join(topic, key, socketId, meta));
  }

  leave(topic: string, socketId: string): void {
    this.local(this.state.leave(topic, socketId));
  }

  private local(changes: Change[]): void {
    if (changes.length === 0) return;
    this.heartbeat?.beatSoon();
    this.sink.apply(this.view.apply(changes));
  }

  // ---- ReplicaStore (changes from other nodes) ----

  takeDelta(): Delta | null {
    return this.state.takeDelta();
  }

  clockOf(nodeId: string): number {
    return this.state.clock()[nodeId] ?? 0;
  }

  snapshot(nodeId: string): Snapshot {
    return this.state.snapshot(nodeId);
  }

  mergeDelta(delta: Delta): { gap: boolean; refused: boolean } {
    let net = 0;
    for (const op of delta.ops) net += op.op === 'join' ? 1 : -1;
    if (this.overCap(delta.replica, this.state.entryCount(delta.replica) + net)) return { gap: false, refused: true };
    const { changes, gap } = this.state.applyDelta(delta);
    this.merged(changes);
    return { gap, refused: false };
  }

  mergeSnapshot(snapshot: Snapshot): boolean {
    if (this.overCap(snapshot.replica, snapshot.entries.length)) return false;
    this.merged(this.state.applySnapshot(snapshot));
    return true;
  }

  /** True (and counted, logged) if holding `entries` for `nodeId` would exceed the cap. */
  private overCap(nodeId: string, entries: number): boolean {
    const max = this.maxEntriesPerNode;
    if (max === 0 || entries <= max) return false;
    this.refusals?.refused(
      'replicated_subscriptions',
      nodeId,
      'refused presence state from another node: more subscriptions than allowed per node',
      {
        max,
        entries,
      },
    );
    return true;
  }

  replicaDown(nodeId: string): void {
    this.merged(this.state.replicaDown(nodeId));
  }

  replicaUp(nodeId: string): void {
    this.merged(this.state.replicaUp(nodeId));
  }

  removeReplica(nodeId: string): void {
    this.merged(this.state.removeReplica(nodeId));
  }

  private merged(changes: Change[]): void {
    if (changes.length > 0) this.sink.apply(this.view.apply(changes));
  }
}
