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
import { Replicator, type ReplicatorDeps } from './replicator.js';

/** Where transitions go (implemented by core/effects.ts). */
export interface TransitionSink {
  apply(transitions: Transition[]): void;
}

/** What the replicator may do to the state: read the own delta, merge other replicas' state. */
export interface ReplicaStore {
  readonly replica: string;
  /** Own ops since the last call, or null. */
  takeDelta(): Delta | null;
  /** Highest contiguous clock seen for `replica`. */
  clockOf(replica: string): number;
  snapshot(replica: string): Snapshot;
  /** Merges a remote delta; `gap` says a snapshot is needed. */
  mergeDelta(delta: Delta): { gap: boolean };
  mergeSnapshot(snapshot: Snapshot): void;
  replicaDown(replica: string): void;
  replicaUp(replica: string): void;
  removeReplica(replica: string): void;
}

export class PresenceService implements ReplicaStore {
  readonly view = new PresenceView();
  /** Carries this node's deltas to the others and merges theirs; null on a single node. */
  readonly replicator: Replicator | null;
  private readonly state: TrackerState;

  /** `replication`: other nodes take this node's deltas (a cluster); absent on a single node. */
  constructor(
    readonly replica: string,
    private readonly sink: TransitionSink,
    replication?: Omit<ReplicatorDeps, 'store'>,
  ) {
    this.state = new TrackerState(replica, { recordDeltas: replication !== undefined });
    this.replicator = replication ? new Replicator({ ...replication, store: this }) : null;
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
    this.replicator?.localChanged();
    this.sink.apply(this.view.apply(changes));
  }

  // ---- ReplicaStore (changes from other nodes) ----

  takeDelta(): Delta | null {
    return this.state.takeDelta();
  }

  clockOf(replica: string): number {
    return this.state.clock()[replica] ?? 0;
  }

  snapshot(replica: string): Snapshot {
    return this.state.snapshot(replica);
  }

  mergeDelta(delta: Delta): { gap: boolean } {
    const { changes, gap } = this.state.applyDelta(delta);
    this.merged(changes);
    return { gap };
  }

  mergeSnapshot(snapshot: Snapshot): void {
    this.merged(this.state.applySnapshot(snapshot));
  }

  replicaDown(replica: string): void {
    this.merged(this.state.replicaDown(replica));
  }

  replicaUp(replica: string): void {
    this.merged(this.state.replicaUp(replica));
  }

  removeReplica(replica: string): void {
    this.merged(this.state.removeReplica(replica));
  }

  private merged(changes: Change[]): void {
    if (changes.length > 0) this.sink.apply(this.view.apply(changes));
  }
}
