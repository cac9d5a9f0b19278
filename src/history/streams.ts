/**
 * Channel history behind the core's ChannelStreams port (core/streams.ts), for the channels an app
 * opts in (`apps[].history`); every other channel goes the direct way.
 *
 * One node sequences each channel's stream: its owner (cluster/membership.ts, the same rendezvous
 * choice as for webhooks; a single node owns everything). A publish on such a channel goes to the
 * owner (`seq`), whose Sequencer gives the event its position and keeps it, sends a copy to the
 * next node in rendezvous order (history/replication.ts), then publishes it the direct way, to its
 * own sockets and the other nodes. A client resuming on any node asks the owner for what it missed
 * (history/resumer.ts). When the owner dies (its mesh connection closes, or its heartbeats stop),
 * the next node owns the channel and sequences on in the same epoch from its copy.
 *
 * A node that stops hands its streams over first (`handOver`): the next node gets whatever copy it
 * lacks, and from then on what this node is sent to sequence, or asked to replay, goes there,
 * until the node has left (`detached`): after that a publish here is refused, never lost quietly.
 */
import type { Connection } from '../core/connection.js';
import type { ChannelStreams, Confirm, Except } from '../core/streams.js';
import type { HistoryChannels } from './channels.js';
import type { Replication } from './replication.js';
import type { Resumer } from './resumer.js';
import type { Sequencer } from './sequencer.js';
import { Unacked, type Sent } from './unacked.js';
import type { HistoryPeers } from './types.js';

/** A publish refused because this node has left the cluster (the HTTP API answers 500: not kept). */
export class NodeLeftError extends Error {
  override readonly name = 'NodeLeftError';
  constructor() {
    super('this node has left the cluster: the event was not kept, publish it through another node');
  }
}

export class HistoryStreams implements ChannelStreams {
  private handingOver = false;
  private left = false;
  private nextId = 0;
  private readonly unacked = new Unacked();

  constructor(
    private readonly deps: {
      channels: HistoryChannels;
      sequencer: Pick<Sequencer, 'sequence' | 'store'>;
      resumer: Pick<Resumer, 'resume' | 'cancel' | 'waiting'>;
      /** Where sequenced events, and the events of channels without history, go. */
      direct: ChannelStreams;
      /** null on a single node: it owns every stream. */
      peers: HistoryPeers | null;
      /** Copies on the next node; null on a single node. */
      replication?: Pick<Replication, 'sequenced' | 'handOver'> | null;
    },
  ) {}

  publish(appId: string, topic: string, frame: string, except?: Except): void | Promise<void> {
    if (!this.deps.channels.handles(appId, topic)) return this.deps.direct.publish(appId, topic, frame, except);
    const peers = this.deps.peers;
    if (!peers) return this.sequenced(appId, topic, frame, except);
    if (this.left) return Promise.reject(new NodeLeftError());
    const to = this.sequencerOf(topic);
    if (to === peers.nodeId) return this.sequenced(appId, topic, frame, except);
    const exceptId = typeof except === 'string' || except === undefined ? except : except.socketId;
    this.send(to, { id: ++this.nextId, appId, topic, frame, except: exceptId }, false);
  }

  /** To the owner; kept until it acknowledges, when it is a node that does (one that keeps copies). */
  private send(to: string, e: Sent, retry: boolean): void {
    const peers = this.deps.peers as HistoryPeers;
    const except = e.except === undefined ? {} : { except: e.except };
    if (!peers.replicates(to)) {
      peers.send(to, { kind: 'seq', topic: e.topic, frame: e.frame, ...except });
      return;
    }
    this.unacked.add(to, e);
    peers.send(to, { kind: 'seq', topic: e.topic, frame: e.frame, ...except, id: e.id, ...(retry ? { retry } : {}) });
  }

  /** `from` sequenced everything this node sent it up to the event `upTo` (in the order sent). */
  acked(from: string, upTo: number): void {
    this.unacked.ack(from, upTo);
  }

  /**
   * `nodeId` is gone (crashed, or cut off): what it was sent and did not acknowledge may never have
   * been sequenced. It goes, in order, to the channels' next owner, which has the dead one's copy
   * and skips what is already in it, before anything published after this.
   */
  ownerDown(nodeId: string, failed: (err: unknown) => void): { resent: number; dropped: number } {
    const { events, dropped } = this.unacked.take(nodeId);
    const self = (this.deps.peers as HistoryPeers).nodeId;
    for (const e of events) {
      const to = this.sequencerOf(e.topic);
      if (to !== self) this.send(to, e, true);
      else this.sequenced(e.appId, e.topic, e.frame, e.except, `${self}:${e.id}`, true)?.catch(failed);
    }
    return { resent: events.length, dropped };
  }

  /** A node left for good (forgotten): nothing it holds of ours is coming back. */
  forget(nodeId: string): void {
    this.unacked.take(nodeId);
  }

  /**
   * Another node sent an event to be sequenced here: sequenced (whoever owns it in this node's
   * view: views differ for a moment while membership changes), or passed on once while this node
   * hands over. `passed`: it was passed on already, never again (two nodes stopping at once).
   */
  received(
    appId: string,
    topic: string,
    frame: string,
    except: string | undefined,
    passed: boolean,
    pid?: string,
    retry = false,
  ): void | Promise<void> {
    const peers = this.deps.peers;
    if (peers && this.handingOver && !passed) {
      const to = this.sequencerOf(topic);
      if (to !== peers.nodeId) {
        peers.send(to, { kind: 'seq', topic, frame, ...(except === undefined ? {} : { except }), passed: true });
        return;
      }
    }
    return this.sequenced(appId, topic, frame, except, pid, retry);
  }

  /**
   * The node that sequences `topic` as this node sees it: its owner, or while this node hands
   * over, the next node when this one owns it (and that node keeps copies).
   */
  sequencerOf(topic: string): string {
    const peers = this.deps.peers as HistoryPeers;
    const owner = peers.ownerOf(topic);
    if (!this.handingOver || owner !== peers.nodeId) return owner;
    const next = peers.nextOf(topic);
    return next !== undefined && peers.replicates(next) ? next : owner;
  }

  /** This node stops: its streams go to the next nodes, and so does what it is sent from now on. */
  handOver(): number {
    this.handingOver = true;
    return this.deps.replication?.handOver() ?? 0;
  }

  /** This node has left the cluster: nothing published here can reach anyone any more. */
  detached(): void {
    this.left = true;
  }

  /**
   * On the owner: positioned, kept, copied to the next node, then published the direct way.
   * `pid`: the publish, when another node sent it; `retry`: sent again after its first owner died,
   * skipped when that owner's copy here has it (it was published then).
   */
  private sequenced(
    appId: string,
    topic: string,
    frame: string,
    except?: Except,
    pid?: string,
    retry = false,
  ): void | Promise<void> {
    const { sequencer, replication } = this.deps;
    if (retry && pid !== undefined && sequencer.store.get(appId, topic)?.has(pid)) return;
    const positioned = sequencer.sequence(appId, topic, frame, pid);
    const stream = replication ? sequencer.store.get(appId, topic) : undefined;
    if (stream) replication?.sequenced(topic, stream, positioned);
    return this.deps.direct.publish(appId, topic, positioned, except);
  }

  resume(conn: Connection, channel: string, topic: string, request: unknown, confirm: Confirm): boolean {
    return this.deps.resumer.resume(conn, channel, topic, request, confirm);
  }

  cancel(conn: Connection, topic: string): void {
    this.deps.resumer.cancel(conn, topic);
  }

  waiting(topic: string): number {
    return this.deps.resumer.waiting(topic);
  }
}
