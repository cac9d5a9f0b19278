/**
 * Subscription and presence state of the whole cluster as this node knows it: the replicated
 * tracker (each node owns its sockets' entries) and the view that derives transitions from it.
 * Every subscription is an entry: key = user id on presence channels and on the users topic,
 * the socket id elsewhere. Transitions are returned by the state itself, never read-then-act.
 */
import { TrackerState, type Change } from '../presence/state.js';
import { PresenceView, type Transition } from '../presence/view.js';

export class PresenceService {
  readonly state: TrackerState;
  readonly view = new PresenceView();
  /** Called after every local join/leave (the cluster link batches the delta out). */
  onLocalChange: () => void = () => {};

  /** Sees every transition, local and merged (shared fragments re-render on presence changes). */
  private readonly observe: ((transitions: readonly Transition[]) => void) | undefined;

  /** `replicated`: other nodes take this node's deltas (a cluster); false on a single node. */
  constructor(replica: string, options: { replicated: boolean; observe?: (transitions: readonly Transition[]) => void }) {
    this.state = new TrackerState(replica, { recordDeltas: options.replicated });
    this.observe = options.observe;
  }

  join(topic: string, key: string, socketId: string, meta: unknown): Transition[] {
    const changes = this.state.join(topic, key, socketId, meta);
    if (changes.length > 0) this.onLocalChange();
    return this.observed(this.view.apply(changes));
  }

  leave(topic: string, socketId: string): Transition[] {
    const changes = this.state.leave(topic, socketId);
    if (changes.length > 0) this.onLocalChange();
    return this.observed(this.view.apply(changes));
  }

  /** Applies changes merged from other nodes. */
  apply(changes: Change[]): Transition[] {
    return this.observed(this.view.apply(changes));
  }

  private observed(transitions: Transition[]): Transition[] {
    if (this.observe !== undefined && transitions.length > 0) this.observe(transitions);
    return transitions;
  }
}
