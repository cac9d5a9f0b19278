/**
 * The cluster link over any backend: channel traffic on per-topic subjects (a node subscribes only
 * while it has local subscribers), and one control subject for heartbeats that carry presence
 * deltas, catch-up requests, user commands, cache updates and graceful leaves. Membership and
 * replication are decided here, once, for every backend.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log/logger.js';
import type { TrackerState } from '../presence/state.js';
import type { ClusterBackend } from './backends/types.js';
import { Subjects, decodeControl, decodeData, encodeControl, encodeData, type ControlMessage } from './envelope.js';
import { Membership, type NodeInfo } from './membership.js';
import type { ClusterInbound, ClusterLink, UserCommand } from './types.js';

export interface LinkOptions {
  prefix: string;
  heartbeatMs: number;
  nodeTimeoutMs: number;
  /** How long after a graceful leave the others keep the node's presence entries. */
  handoffMs: number;
  /** A down node is forgotten after this long. */
  forgetAfterMs: number;
  /** Local presence changes are sent after at most this delay (batched). */
  deltaDelayMs: number;
}

export class BackendLink implements ClusterLink {
  readonly handsOffPresence = true;
  private readonly subjects: Subjects;
  private readonly membership: Membership;
  private readonly watched = new Map<string, string>(); // subject -> topic
  private readonly snapRequested = new Map<string, number>();
  private inbound: ClusterInbound | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private deltaTimer: NodeJS.Timeout | null = null;
  private connected = false;
  private stopped = false;

  constructor(
    private readonly deps: {
      backend: ClusterBackend;
      state: TrackerState;
      localConnections: () => Record<string, number>;
      /** Extra node info for the heartbeat's `stats` field (dashboard/stats.ts); undefined = none. */
      localStats?: () => unknown;
      options: LinkOptions;
      logger: Logger;
      now?: () => number;
    },
  ) {
    const now = deps.now ?? Date.now;
    this.subjects = new Subjects(deps.options.prefix);
    this.membership = new Membership(
      deps.state.replica,
      { nodeTimeoutMs: deps.options.nodeTimeoutMs, forgetAfterMs: deps.options.forgetAfterMs },
      now,
    );
  }

  get self(): string {
    return this.deps.state.replica;
  }

  /** Every other node this one knows, live, down or leaving, as its heartbeats last described it. */
  nodes(): readonly Readonly<NodeInfo>[] {
    return this.membership.all();
  }

  /** The core registers itself once as the receiver of everything from other nodes. */
  register(inbound: ClusterInbound): void {
    this.inbound = inbound;
  }

  async start(): Promise<void> {
    const { backend, logger } = this.deps;
    await backend.connect({
      message: (subject, payload) => this.onMessage(subject, payload),
      connectionChanged: (up) => this.onConnectionChanged(up),
    });
    this.connected = true;
    backend.subscribe(this.subjects.control);
    backend.subscribe(this.subjects.node(this.self));
    this.scheduleHeartbeat();
    this.heartbeat();
    await this.catchUp();
    logger.info('joined cluster', { backend: backend.name, replica: this.self, nodes: this.membership.live().length });
  }

  /**
   * Before the node serves anyone: listen for one heartbeat period (every live node announces
   * itself in that time) and take the state of each node heard, so the first presence list or
   * channel query this node answers is already the cluster's. Bounded: after three more periods
   * the node starts anyway and says which nodes it had not caught up with.
   */
  private async catchUp(): Promise<void> {
    const hb = this.deps.options.heartbeatMs;
    await sleep(hb * 1.2);
    const deadline = Date.now() + hb * 3;
    while (!this.stopped && this.behind().length > 0 && Date.now() < deadline) await sleep(Math.min(20, hb / 5));
    const behind = this.behind();
    if (behind.length > 0) this.deps.logger.warn('started before catching up with every node; their entries arrive shortly', { nodes: behind });
  }

  /** Live nodes whose announced entries we do not hold yet. */
  private behind(): string[] {
    const clock = this.deps.state.clock();
    return this.membership
      .live()
      .filter((n) => (clock[n.replica] ?? 0) < n.clock)
      .map((n) => n.replica);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    if (this.deltaTimer) clearTimeout(this.deltaTimer);
    this.heartbeat();
    this.control({ v: 1, type: 'bye', from: this.self, handoffMs: this.deps.options.handoffMs });
    await this.deps.backend.close();
    this.deps.logger.info('left cluster', { handoffMs: this.deps.options.handoffMs });
  }

  /** Stops without a goodbye, as a crash would (tests of failure detection). */
  async abandon(): Promise<void> {
    this.stopped = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    if (this.deltaTimer) clearTimeout(this.deltaTimer);
    await this.deps.backend.close();
  }

  // ------------------------------------------------------------------------------------------
  // ClusterLink

  watch(topic: string): void {
    const subject = this.subjects.data(topic);
    this.watched.set(subject, topic);
    this.deps.backend.subscribe(subject);
  }

  unwatch(topic: string): void {
    const subject = this.subjects.data(topic);
    this.watched.delete(subject);
    this.deps.backend.unsubscribe(subject);
  }

  forward(topic: string, frame: string, exceptSocketId?: string): void {
    this.deps.backend.publish(this.subjects.data(topic), encodeData(this.self, exceptSocketId, frame));
  }

  cache(topic: string, frame: string): void {
    this.control({ v: 1, type: 'cache', from: this.self, topic, frame });
  }

  userCommand(appId: string, userId: string, command: UserCommand): void {
    this.control({ v: 1, type: 'user', from: this.self, app: appId, user: userId, command });
  }

  ownsTopic(topic: string): boolean {
    return this.membership.owner(topic) === this.self;
  }

  remoteConnections(appId: string): number {
    return this.membership.remoteConnections(appId);
  }

  /** Local presence changed: send the delta soon, batched with others. */
  presenceDirty(): void {
    if (this.deltaTimer || this.stopped) return;
    this.deltaTimer = setTimeout(() => {
      this.deltaTimer = null;
      this.heartbeat();
    }, this.deps.options.deltaDelayMs);
    this.deltaTimer.unref();
  }

  // ------------------------------------------------------------------------------------------

  private scheduleHeartbeat(): void {
    const base = this.deps.options.heartbeatMs;
    const jitter = base * 0.2 * (Math.random() - 0.5);
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeat();
      this.sweep();
      if (!this.stopped) this.scheduleHeartbeat();
    }, base + jitter);
    this.heartbeatTimer.unref();
  }

  private heartbeat(): void {
    const state = this.deps.state;
    const delta = state.takeDelta();
    const clock = state.clock()[this.self] ?? 0;
    const stats = this.deps.localStats?.();
    const conns = this.deps.localConnections();
    this.control({ v: 1, type: 'hb', from: this.self, clock, delta, conns, ...(stats !== undefined ? { stats } : {}) });
  }

  private sweep(): void {
    if (!this.connected) return; // nobody can be heard while our own link is down
    const { wentDown, forget } = this.membership.sweep();
    for (const r of wentDown) {
      this.deps.logger.warn('node stopped heartbeating: its users leave', { node: r });
      this.emit(this.deps.state.replicaDown(r));
    }
    for (const r of forget) {
      this.deps.logger.info('node forgotten', { node: r });
      this.emit(this.deps.state.removeReplica(r));
      this.snapRequested.delete(r);
    }
  }

  private emit(changes: ReturnType<TrackerState['replicaDown']>): void {
    if (changes.length > 0) this.inbound?.presenceChanged(changes);
  }

  private control(msg: ControlMessage, to?: string): void {
    const subject = to === undefined ? this.subjects.control : this.subjects.node(to);
    this.deps.backend.publish(subject, encodeControl(msg));
  }

  private onConnectionChanged(up: boolean): void {
    if (up === this.connected) return;
    this.connected = up;
    if (up) {
      this.deps.logger.info('cluster backend connection restored: resynchronising', { backend: this.deps.backend.name });
      this.membership.forgiveAll();
      this.snapRequested.clear();
      this.heartbeat();
    } else {
      this.deps.logger.error('cluster backend connection lost: messages to other nodes are dropped until it returns', {
        backend: this.deps.backend.name,
      });
    }
  }

  private onMessage(subject: string, payload: Buffer): void {
    if (this.subjects.isData(subject)) {
      const topic = this.watched.get(subject);
      if (topic === undefined) return;
      const env = decodeData(payload);
      if (!env) {
        this.deps.logger.warn('dropped a malformed data envelope', { subject });
        return;
      }
      if (env.origin !== this.self) this.inbound?.deliver(topic, env.frame, env.except);
      return;
    }
    let msg: ControlMessage;
    try {
      msg = decodeControl(payload);
    } catch (err) {
      this.deps.logger.warn('dropped a malformed control message', { subject, err });
      return;
    }
    if (msg.from === this.self) return;
    try {
      this.onControl(msg);
    } catch (err) {
      this.deps.logger.warn('could not apply a control message', { type: msg.type, from: msg.from, err });
    }
  }

  private onControl(msg: ControlMessage): void {
    const state = this.deps.state;
    switch (msg.type) {
      case 'hb': {
        const seen = this.membership.heartbeat(msg.from, msg.conns, msg.clock, msg.stats);
        if (seen === 'new') {
          this.deps.logger.info('node joined', { node: msg.from });
          this.presenceDirty(); // let the newcomer hear from us soon
        }
        if (seen === 'up') {
          this.deps.logger.info('node is back', { node: msg.from });
          this.emit(state.replicaUp(msg.from));
        }
        if (msg.delta) {
          const { changes, gap } = state.applyDelta(msg.delta);
          this.emit(changes);
          if (gap) this.requestSnapshot(msg.from);
        } else if ((state.clock()[msg.from] ?? 0) < msg.clock) {
          this.requestSnapshot(msg.from);
        }
        return;
      }
      case 'snap_req':
        this.control({ v: 1, type: 'snap', from: this.self, snapshot: state.snapshot(msg.replica) }, msg.from);
        return;
      case 'snap':
        this.snapRequested.delete(msg.snapshot.replica);
        if (msg.snapshot.replica === this.self || !this.membership.known(msg.snapshot.replica)) return;
        this.emit(state.applySnapshot(msg.snapshot));
        return;
      case 'user':
        this.inbound?.userCommand(msg.app, msg.user, msg.command);
        return;
      case 'cache':
        this.inbound?.cacheStored(msg.topic, msg.frame);
        return;
      case 'bye':
        this.deps.logger.info('node leaving gracefully', { node: msg.from, handoffMs: msg.handoffMs });
        this.membership.leaving(msg.from, Math.min(msg.handoffMs, this.deps.options.handoffMs * 2));
        return;
    }
  }

  private requestSnapshot(replica: string): void {
    const now = Date.now();
    const last = this.snapRequested.get(replica) ?? 0;
    if (now - last < 2_000) return;
    this.snapRequested.set(replica, now);
    this.control({ v: 1, type: 'snap_req', from: this.self, replica }, replica);
  }
}
