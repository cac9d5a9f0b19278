/**
 * This node's place in the cluster: membership (who is alive, who owns a topic), the one heartbeat
 * timer, joining and leaving, and the dispatch of what other nodes send to the features registered
 * for it (presence/cluster.ts, history/cluster.ts, core/cluster.ts). It owns two message types
 * itself, `hb` and `bye`; every other type is a feature's, and a type nobody registered is dropped
 * with a log line. Implements the `ClusterLink` the core uses for channel traffic and the
 * `ClusterControl` the features register with. Bytes go through the Carrier.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log/logger.js';
import type { Carrier, CarrierReceiver } from './carrier.js';
import type { ControlFields, ControlMessage } from './envelope.js';
import type { Membership } from './membership.js';
import { blockedFor } from './pause.js';
import type { ClusterSettings } from './settings.js';
import type { ChannelReceiver, ClusterControl, ClusterFeature, ClusterLink, StopMode } from './types.js';

/** What the node needs of the carrier (a fake in unit tests). */
export type CarrierPort = Pick<
  Carrier,
  'backendName' | 'connect' | 'close' | 'watch' | 'unwatch' | 'forward' | 'mark' | 'send' | 'inbound'
>;

/** After a graceful goodbye, how long messages already on their way are still handled. */
const LINGER_MS = 250;

type Handler = { feature: string; handle: (msg: ControlMessage) => void };

export class ClusterNode implements ClusterLink, ClusterControl {
  readonly handsOffPresence = true;
  readonly nodeId: string;
  readonly membership: Membership;
  private readonly features: ClusterFeature[] = [];
  private readonly handlers = new Map<string, Handler>();
  private channels: ChannelReceiver | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  private joined = false;
  private connected = false;
  private stopped = false;
  private readonly receiver: CarrierReceiver = {
    data: (topic, frame, except) => this.channels?.deliver(topic, frame, except),
    control: (msg) => this.dispatch(msg),
    mark: (topic, id) => this.each('marked', (f) => f.marked?.(topic, id)),
    connectionChanged: (up) => this.connectionChanged(up),
    nodeGone: (nodeId) => this.gone(nodeId),
  };

  constructor(
    private readonly deps: {
      nodeId: string;
      carrier: CarrierPort;
      membership: Membership;
      settings: Pick<ClusterSettings, 'heartbeatMs' | 'handoffMs' | 'nodeTimeoutMs' | 'deltaDelayMs'>;
      /** This node's connections per app, announced in each heartbeat (the others' `remoteConnections`). */
      connections: () => Record<string, number>;
      logger: Logger;
    },
  ) {
    this.nodeId = deps.nodeId;
    this.membership = deps.membership;
    this.handlers.set('hb', { feature: 'node', handle: (msg) => this.heard(msg) });
    this.handlers.set('bye', { feature: 'node', handle: (msg) => this.leaving(msg) });
  }

  // ------------------------------------------------------------------------------------------
  // ClusterControl

  register(feature: ClusterFeature): void {
    if (this.joined) throw new Error(`cluster feature ${feature.name} registered after the node joined`);
    for (const [type, handle] of Object.entries(feature.messages ?? {})) {
      const taken = this.handlers.get(type);
      if (taken) throw new Error(`control message type ${type} is ${taken.feature}'s, not ${feature.name}'s`);
      this.handlers.set(type, { feature: feature.name, handle });
    }
    if (feature.channels) {
      if (this.channels) throw new Error(`channel frames already have a receiver (${feature.name})`);
      this.channels = feature.channels;
    }
    this.features.push(feature);
  }

  send(type: string, fields: ControlFields, to?: string): void {
    this.deps.carrier.send(type, fields, to);
  }

  mark(topic: string, id: string): void {
    this.deps.carrier.mark(topic, id);
  }

  beatSoon(): void {
    if (this.soonTimer || this.stopped) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.beat();
    }, this.deps.settings.deltaDelayMs);
    this.soonTimer.unref();
  }

  // ------------------------------------------------------------------------------------------
  // Joining and leaving

  /** Connects, announces this node, and waits (bounded) until the features caught up with the others. */
  async start(): Promise<void> {
    const { carrier, logger } = this.deps;
    this.joined = true;
    await carrier.connect(this.receiver);
    this.connected = true;
    this.scheduleHeartbeat();
    this.beat();
    await this.catchUp();
    logger.info('joined cluster', {
      backend: carrier.backendName,
      nodeId: this.nodeId,
      nodes: this.membership.live().length,
    });
  }

  /**
   * Before the node serves anyone: listen for one heartbeat period (every live node announces
   * itself in that time) and let each feature take the state of each node heard, so the first
   * presence list or channel query this node answers is already the cluster's. Bounded: after
   * three more periods the node starts anyway and says which nodes it had not caught up with.
   */
  private async catchUp(): Promise<void> {
    const hb = this.deps.settings.heartbeatMs;
    await sleep(hb * 1.2);
    const deadline = Date.now() + hb * 3;
    while (!this.stopped && this.behind().length > 0 && Date.now() < deadline) await sleep(Math.min(20, hb / 5));
    const behind = this.behind();
    if (behind.length > 0)
      this.deps.logger.warn('started before catching up with every node; their entries arrive shortly', {
        nodes: behind,
      });
  }

  private behind(): string[] {
    const out = new Set<string>();
    for (const f of this.features) for (const n of f.behind?.() ?? []) out.add(n);
    return [...out];
  }

  /**
   * `graceful`: a last heartbeat and a goodbye (the others keep this node's entries for the
   * hand-off period). `immediate`: the same, without waiting for anything else. `crash`: no
   * goodbye, as a crash would (tests of failure detection).
   */
  async stop(mode: StopMode): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.soonTimer = null;
    if (mode !== 'crash') {
      const handoffMs = this.deps.settings.handoffMs;
      this.beat();
      this.send('bye', { handoffMs });
      // What the others sent before they heard the goodbye is still on its way: it is handled
      // (a feature handing its work over passes it on) before the connection closes.
      if (mode === 'graceful') await sleep(Math.min(LINGER_MS, handoffMs));
      await this.deps.carrier.close();
      this.deps.logger.info('left cluster', { handoffMs });
      return;
    }
    await this.deps.carrier.close();
  }

  // ------------------------------------------------------------------------------------------
  // ClusterLink

  watch(topic: string): void {
    this.deps.carrier.watch(topic);
  }

  unwatch(topic: string): void {
    this.deps.carrier.unwatch(topic);
  }

  forward(topic: string, frame: string, exceptSocketId?: string): void {
    this.deps.carrier.forward(topic, frame, exceptSocketId);
  }

  /** A payload of `topic`'s data subject that came by another way (the nats history store's consumer). */
  inbound(topic: string, payload: Buffer): void {
    this.deps.carrier.inbound(topic, payload);
  }

  ownsTopic(topic: string): boolean {
    return this.membership.ownsTopic(topic);
  }

  remoteConnections(appId: string): number {
    return this.membership.remoteConnections(appId);
  }

  // ------------------------------------------------------------------------------------------
  // The heartbeat: built here, once, with each feature's fields

  private beat(): void {
    const fields: Record<string, unknown> = { conns: this.deps.connections() };
    for (const f of this.features) {
      const part = f.heartbeat?.();
      if (part !== undefined) Object.assign(fields, part);
    }
    this.send('hb', fields);
  }

  private scheduleHeartbeat(): void {
    const base = this.deps.settings.heartbeatMs;
    const delay = base + base * 0.2 * (Math.random() - 0.5);
    const due = performance.now() + delay;
    this.heartbeatTimer = setTimeout(() => {
      this.beat();
      this.excusePause(blockedFor(due, this.deps.settings.heartbeatMs));
      this.sweep();
      if (!this.stopped) this.scheduleHeartbeat();
    }, delay);
    this.heartbeatTimer.unref();
  }

  /**
   * This node's event loop was blocked for `late` ms (pause.ts) and the other nodes' heartbeats
   * waited unread in its buffers. Their silence over that time is ours, so it is not counted
   * against them: otherwise one stalled node would declare every other node down, and every
   * remote presence member would leave and join again. A node that really died is still found
   * one pause later.
   */
  private excusePause(late: number): void {
    if (late === 0) return;
    const { nodeTimeoutMs } = this.deps.settings;
    this.membership.forgive(late);
    if (late >= nodeTimeoutMs / 2)
      this.deps.logger.warn(
        'this node was blocked: the silence of the other nodes during that time is not held against them',
        {
          blockedMs: Math.round(late),
          nodeTimeoutMs,
        },
      );
  }

  private sweep(): void {
    if (!this.connected) return; // nobody can be heard while our own link is down
    const { logger } = this.deps;
    const { wentDown, forget } = this.membership.sweep();
    for (const n of wentDown) {
      logger.warn('node stopped heartbeating: its users leave', { node: n });
      this.each('nodeDown', (f) => f.nodeDown?.(n));
    }
    for (const n of forget) {
      logger.info('node forgotten', { node: n });
      this.each('nodeForgotten', (f) => f.nodeForgotten?.(n));
    }
  }

  /** A node's direct connection closed (a crashed process): down now, as if its heartbeats had stopped. */
  private gone(nodeId: string): void {
    if (this.stopped || !this.membership.gone(nodeId)) return;
    this.deps.logger.warn('node connection closed: counted down at once, its users leave', { node: nodeId });
    this.each('nodeDown', (f) => f.nodeDown?.(nodeId));
  }

  private connectionChanged(up: boolean): void {
    if (up === this.connected) return;
    this.connected = up;
    const backend = this.deps.carrier.backendName;
    if (up) {
      this.deps.logger.info('cluster backend connection restored: resynchronising', { backend });
      this.membership.forgive();
      this.each('reconnected', (f) => f.reconnected?.());
      this.beat();
    } else {
      this.deps.logger.error('cluster backend connection lost: messages to other nodes are dropped until it returns', {
        backend,
      });
    }
  }

  // ------------------------------------------------------------------------------------------
  // What other nodes send

  private dispatch(msg: ControlMessage): void {
    const handler = this.handlers.get(msg.type);
    if (!handler) {
      this.deps.logger.warn('dropped a control message of a type nothing here handles', {
        type: msg.type,
        from: msg.from,
      });
      return;
    }
    try {
      handler.handle(msg);
    } catch (err) {
      this.deps.logger.warn('could not apply a control message', {
        type: msg.type,
        from: msg.from,
        feature: handler.feature,
        err,
      });
    }
  }

  /** `hb`: `{ conns, stats?, ...each feature's fields }`. */
  private heard(msg: ControlMessage): void {
    const { conns } = msg;
    if (conns === null || typeof conns !== 'object' || Array.isArray(conns))
      throw new TypeError('heartbeat without connection counts');
    const seen = this.membership.heartbeat(msg.from, conns as Record<string, number>, msg.stats);
    if (seen === 'new') {
      this.deps.logger.info('node joined', { node: msg.from });
      this.beatSoon(); // let the newcomer hear from us soon
    }
    if (seen === 'up') this.deps.logger.info('node is back', { node: msg.from });
    this.each('heard', (f) => f.heard?.(msg, seen));
  }

  /** `bye`: `{ handoffMs }`: keep the node's entries for that long (at most twice ours), then drop them. */
  private leaving(msg: ControlMessage): void {
    const { handoffMs } = msg;
    if (typeof handoffMs !== 'number' || !(handoffMs >= 0)) throw new TypeError('bye without a hand-off period');
    this.deps.logger.info('node leaving gracefully', { node: msg.from, handoffMs });
    this.membership.leaving(msg.from, Math.min(handoffMs, this.deps.settings.handoffMs * 2));
  }

  /** Calls every feature; one that throws is logged and does not keep the others from hearing. */
  private each(what: string, call: (f: ClusterFeature) => void): void {
    for (const f of this.features) {
      try {
        call(f);
      } catch (err) {
        this.deps.logger.warn('a cluster feature failed', { feature: f.name, what, err });
      }
    }
  }
}
