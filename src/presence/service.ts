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
import { checkDelta, checkSnapshot } from './wire.js';
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
  /** Merges a remote delta (beyond the cap per node, only its members); `gap` says a snapshot is needed. */
  mergeDelta(delta: Delta): { gap: boolean };
  /** Merges a snapshot (beyond the cap per node, only its members). */
  mergeSnapshot(snapshot: Snapshot): void;
  replicaDown(nodeId: string): void;
  replicaUp(nodeId: string): void;
  removeReplica(nodeId: string): void;
}

/** A cluster node: how local changes leave this node, and how much it keeps for each other node. */
export interface Replicated {
  /** Local presence changed: the node's next heartbeat carries the delta (sent soon, batched). */
  heartbeat: { beatSoon(): void };
  /**
   * Entries (subscriptions) kept for one other node at most, so a faulty or hostile node cannot
   * grow this node's memory without bound. Beyond it only the excess is refused (counted and
   * logged): the other node's public and private subscriptions past the cap are not kept here,
   * while its presence members (presence channels, signed-in users) always are, so the node's
   * presence never freezes. 0 = no limit.
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

  mergeDelta(delta: Delta): { gap: boolean } {
    checkDelta(delta);
    const { changes, gap } = this.state.applyDelta(this.admitDelta(delta));
    this.merged(changes);
    return { gap };
  }

  mergeSnapshot(snapshot: Snapshot): void {
    checkSnapshot(snapshot);
    this.merged(this.state.applySnapshot(this.admitSnapshot(snapshot)));
  }

  /**
   * The delta without the joins of subscriptions beyond the cap for its node (members are always
   * kept). The count is an estimate from the entries held and the ops in order; a leave of a
   * subscription that was not kept is harmless (nothing to remove).
   */
  private admitDelta(delta: Delta): Delta {
    const max = this.maxEntriesPerNode;
    if (max === 0) return delta;
    let held = this.state.entryCount(delta.replica);
    let dropped = 0;
    const ops = delta.ops.filter((op) => {
      if (op.op === 'leave') {
        held = Math.max(0, held - 1);
        return true;
      }
      if (held >= max && !holdsMembers(op.entry.topic)) {
        dropped++;
        return false;
      }
      held++;
      return true;
    });
    if (dropped === 0) return delta;
    this.refusedExcess(delta.replica, max, dropped);
    return { ...delta, ops };
  }

  /** The snapshot with every member and as many other subscriptions as the cap leaves room for. */
  private admitSnapshot(snapshot: Snapshot): Snapshot {
    const max = this.maxEntriesPerNode;
    if (max === 0 || snapshot.entries.length <= max) return snapshot;
    const members = snapshot.entries.filter((e) => holdsMembers(e.topic));
    const room = Math.max(0, max - members.length);
    const others = snapshot.entries.filter((e) => !holdsMembers(e.topic)).slice(0, room);
    this.refusedExcess(snapshot.replica, max, snapshot.entries.length - members.length - others.length);
    return { ...snapshot, entries: [...members, ...others] };
  }

  private refusedExcess(nodeId: string, max: number, dropped: number): void {
    this.refusals?.refused(
      'replicated_subscriptions',
      nodeId,
      'another node has more subscriptions than allowed per node: the excess is not kept here (its presence members are)',
      { max, dropped },
    );
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

/**
 * Entries that are members: presence channels (keyed by user id) and the users topic (signed-in
 * users). Every other entry is one socket's subscription to a public or private channel. A topic
 * is `appId \0 channel`; the users topic's channel is `#users` (core/topics.ts).
 */
function holdsMembers(topic: string): boolean {
  const channel = topic.slice(topic.indexOf('\u0000') + 1);
  return channel.startsWith('presence-') || channel === '#users';
}
