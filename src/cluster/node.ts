/**
 * This node's place in the cluster: heartbeats and membership (who is alive, who owns a topic),
 * the dispatch of control messages, joining and leaving. Implements the `ClusterLink` the core
 * uses. Bytes go through the BackendLink; presence deltas and snapshots through the Replicator.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { HistoryInbound } from '../history/types.js';
import type { Logger } from '../log/logger.js';
import type { Replicator } from '../presence/replicator.js';
import type { ControlMessage } from './envelope.js';
import type { BackendLink } from './link.js';
import type { Membership } from './membership.js';
import { blockedFor } from './pause.js';
import type { ClusterSettings } from './settings.js';
import type { ClusterInbound, ClusterLink, StopMode, UserCommand } from './types.js';

export class ClusterNode implements ClusterLink {
  readonly handsOffPresence = true;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private inbound: ClusterInbound | null = null;
  private connected = false;
  private stopped = false;

  constructor(
    private readonly deps: {
      self: string;
      link: BackendLink;
      membership: Membership;
      replicator: Replicator;
      settings: Pick<ClusterSettings, 'heartbeatMs' | 'handoffMs' | 'nodeTimeoutMs'>;
      logger: Logger;
      /** Channel history (src/history/), when some app keeps it: its messages, marks and down nodes. */
      history?: HistoryInbound;
    },
  ) {}

  async start(inbound: ClusterInbound): Promise<void> {
    const { link, replicator, logger } = this.deps;
    this.inbound = inbound;
    await link.start({
      data: (topic, frame, except) => inbound.deliver(topic, frame, except),
      control: (msg) => this.onControl(msg),
      mark: (topic, id) => this.deps.history?.historyMarked(topic, id),
      connectionChanged: (up) => this.onConnectionChanged(up),
    });
    this.connected = true;
    this.scheduleHeartbeat();
    replicator.beat();
    await this.catchUp();
    logger.info('joined cluster', {
      backend: link.backendName,
      replica: this.deps.self,
      nodes: this.deps.membership.live().length,
    });
  }

  /**
   * Before the node serves anyone: listen for one heartbeat period (every live node announces
   * itself in that time) and take the state of each node heard, so the first presence list or
   * channel query this node answers is already the cluster's. Bounded: after three more periods
   * the node starts anyway and says which nodes it had not caught up with.
   */
  private async catchUp(): Promise<void> {
    const hb = this.deps.settings.heartbeatMs;
    const replicator = this.deps.replicator;
    await sleep(hb * 1.2);
    const deadline = Date.now() + hb * 3;
    while (!this.stopped && replicator.behind().length > 0 && Date.now() < deadline) await sleep(Math.min(20, hb / 5));
    const behind = replicator.behind();
    if (behind.length > 0)
      this.deps.logger.warn('started before catching up with every node; their entries arrive shortly', {
        nodes: behind,
      });
  }

  /**
   * `graceful`: a last delta and a goodbye (the others keep this node's entries for the hand-off
   * period). `immediate`: the same, without waiting for anything else. `crash`: no goodbye, as a
   * crash would (tests of failure detection).
   */
  async stop(mode: StopMode): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.deps.replicator.stop();
    if (mode !== 'crash') {
      const handoffMs = this.deps.settings.handoffMs;
      this.deps.replicator.beat();
      this.deps.link.send({ v: 1, type: 'bye', from: this.deps.self, handoffMs });
      await this.deps.link.close();
      this.deps.logger.info('left cluster', { handoffMs });
      return;
    }
    await this.deps.link.close();
  }

  // ------------------------------------------------------------------------------------------
  // ClusterLink

  watch(topic: string): void {
    this.deps.link.watch(topic);
  }

  unwatch(topic: string): void {
    this.deps.link.unwatch(topic);
  }

  forward(topic: string, frame: string, exceptSocketId?: string): void {
    this.deps.link.forward(topic, frame, exceptSocketId);
  }

  cache(topic: string, frame: string): void {
    this.deps.link.send({ v: 1, type: 'cache', from: this.deps.self, topic, frame });
  }

  userCommand(appId: string, userId: string, command: UserCommand): void {
    this.deps.link.send({ v: 1, type: 'user', from: this.deps.self, app: appId, user: userId, command });
  }

  ownsTopic(topic: string): boolean {
    return this.deps.membership.ownsTopic(topic);
  }

  remoteConnections(appId: string): number {
    return this.deps.membership.remoteConnections(appId);
  }

  // ------------------------------------------------------------------------------------------

  private scheduleHeartbeat(): void {
    const base = this.deps.settings.heartbeatMs;
    const delay = base + base * 0.2 * (Math.random() - 0.5);
    const due = performance.now() + delay;
    this.heartbeatTimer = setTimeout(() => {
      this.deps.replicator.beat();
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
    this.deps.membership.forgive(late);
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
    const { membership, replicator, logger } = this.deps;
    const { wentDown, forget } = membership.sweep();
    for (const r of wentDown) {
      logger.warn('node stopped heartbeating: its users leave', { node: r });
      replicator.nodeDown(r);
      this.deps.history?.nodeDown(r);
    }
    for (const r of forget) {
      logger.info('node forgotten', { node: r });
      replicator.nodeForgotten(r);
    }
  }

  private onConnectionChanged(up: boolean): void {
    if (up === this.connected) return;
    this.connected = up;
    const backend = this.deps.link.backendName;
    if (up) {
      this.deps.logger.info('cluster backend connection restored: resynchronising', { backend });
      this.deps.membership.forgive();
      this.deps.replicator.resync();
    } else {
      this.deps.logger.error('cluster backend connection lost: messages to other nodes are dropped until it returns', {
        backend,
      });
    }
  }

  private onControl(msg: ControlMessage): void {
    const { membership, replicator, logger } = this.deps;
    switch (msg.type) {
      case 'hb': {
        const seen = membership.heartbeat(msg.from, msg.conns, msg.clock, msg.stats);
        if (seen === 'new') logger.info('node joined', { node: msg.from });
        if (seen === 'up') logger.info('node is back', { node: msg.from });
        replicator.heartbeat(msg, seen);
        return;
      }
      case 'snap_req':
        replicator.snapshotRequested(msg);
        return;
      case 'snap':
        replicator.snapshotReceived(msg);
        return;
      case 'user':
        this.inbound?.userCommand(msg.app, msg.user, msg.command);
        return;
      case 'cache':
        this.inbound?.cacheStored(msg.topic, msg.frame);
        return;
      case 'hist':
        this.deps.history?.historyMessage(msg.from, msg.body);
        return;
      case 'bye':
        logger.info('node leaving gracefully', { node: msg.from, handoffMs: msg.handoffMs });
        membership.leaving(msg.from, Math.min(msg.handoffMs, this.deps.settings.handoffMs * 2));
        return;
    }
  }
}
