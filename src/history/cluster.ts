/**
 * Channel history as a feature of the cluster node: its messages travel as control messages of
 * type `hist` (`{ v: 1, type: 'hist', from, body }`, body checked by history/wire.ts) and its
 * marks on the channels' data subjects. `ClusterPeers` is the sending half (HistoryPeers over the
 * node); `HistoryReceiver` the receiving half, registered with the node by the composition root.
 */
import type { ClusterControl, ClusterFeature, ControlFields, ControlMessage, Seen } from '../cluster/types.js';
import { parseTopic } from '../core/topics.js';
import type { Logger } from '../log/logger.js';
import type { HistoryChannels } from './channels.js';
import { parsePosition } from './position.js';
import type { Replication } from './replication.js';
import type { Resumer } from './resumer.js';
import type { Sequencer } from './sequencer.js';
import type { HistoryStreams } from './streams.js';
import type { HistoryPeers } from './types.js';
import { checkHistoryMessage, type HistoryMessage } from './wire.js';

export class ClusterPeers implements HistoryPeers {
  readonly nodeId: string;

  constructor(private readonly node: Pick<ClusterControl, 'nodeId' | 'membership' | 'send' | 'mark'>) {
    this.nodeId = node.nodeId;
  }

  /** Nodes whose heartbeats say they keep stream copies (`histRep`). */
  private readonly replicating = new Set<string>();

  ownerOf(topic: string): string {
    return this.node.membership.owner(topic);
  }

  nextOf(topic: string): string | undefined {
    return this.node.membership.ranked(topic, 2)[1];
  }

  replicates(nodeId: string): boolean {
    return this.replicating.has(nodeId);
  }

  /** What a node's heartbeat says of it; a node forgotten is forgotten here too. */
  heard(nodeId: string, replicates: boolean): void {
    if (replicates) this.replicating.add(nodeId);
    else this.replicating.delete(nodeId);
  }

  wasOwner(nodeId: string, topic: string): boolean {
    return this.node.membership.wouldOwn(nodeId, topic);
  }

  send(to: string, body: HistoryMessage): void {
    this.node.send('hist', { body }, to);
  }

  mark(topic: string, id: string): void {
    this.node.mark(topic, id);
  }
}

/**
 * Replay bytes one node may ask of this one, per second (and at once): a bucket per asking node.
 * Beyond it a request is not answered (logged); the asking node tries again and then tells its
 * client the gap is unknown. Clients of one node resuming without end must not make the channels'
 * owner build and send its history without end.
 */
const REPLAY_BYTES_PER_SECOND = 8 * 1024 * 1024;
const REPLAY_BYTES_BURST = 32 * 1024 * 1024;

/** The heartbeat field by which a node says it keeps stream copies (`rep`); earlier builds send none. */
const REPLICATES = 'histRep';

export class HistoryReceiver implements ClusterFeature {
  readonly name = 'history';
  private readonly replayBudget = new Map<string, { bytes: number; at: number; warnedAt: number }>();
  readonly messages = { hist: (msg: ControlMessage): void => this.message(msg.from, checkHistoryMessage(msg.body)) };

  constructor(
    private readonly deps: {
      channels: HistoryChannels;
      streams: Pick<HistoryStreams, 'received' | 'sequencerOf' | 'acked' | 'ownerDown' | 'forget'>;
      sequencer: Pick<Sequencer, 'answer'>;
      resumer: Pick<Resumer, 'replied' | 'marked' | 'nodeDown'>;
      replication: Pick<Replication, 'received' | 'membershipChanged'>;
      peers: ClusterPeers;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  heartbeat(): ControlFields {
    return { [REPLICATES]: 1 };
  }

  heard(hb: ControlMessage, seen: Seen): void {
    this.deps.peers.heard(hb.from, hb[REPLICATES] === 1);
    if (seen !== null) this.deps.replication.membershipChanged();
  }

  marked(_topic: string, id: string): void {
    this.deps.resumer.marked(id);
  }

  nodeDown(nodeId: string): void {
    this.deps.replication.membershipChanged();
    const { resent, dropped } = this.deps.streams.ownerDown(nodeId, (err) =>
      this.deps.logger.warn('an event sent again after its owner went down was not kept', { err }),
    );
    if (resent > 0)
      this.deps.logger.info('events the node that went down had not acknowledged go to the next owners', {
        node: nodeId,
        events: resent,
      });
    if (dropped > 0)
      this.deps.logger.warn('events sent to the node that went down were beyond what is kept to send again: lost', {
        node: nodeId,
        events: dropped,
      });
    this.deps.resumer.nodeDown(nodeId);
  }

  nodeForgotten(nodeId: string): void {
    this.deps.peers.heard(nodeId, false);
    this.deps.streams.forget(nodeId);
    this.acks.delete(nodeId);
    this.replayBudget.delete(nodeId);
  }

  /** Per node, the last event it sent here to sequence: acknowledged once per turn of the event loop. */
  private readonly acks = new Map<string, number>();
  private acking: NodeJS.Immediate | null = null;

  private ack(to: string, id: number): void {
    this.acks.set(to, id);
    this.acking ??= setImmediate(() => {
      this.acking = null;
      for (const [node, upTo] of this.acks) this.deps.peers.send(node, { kind: 'ack', upTo });
      this.acks.clear();
    });
  }

  private message(from: string, msg: HistoryMessage): void {
    switch (msg.kind) {
      case 'ack':
        this.deps.streams.acked(from, msg.upTo);
        return;
      case 'seq': {
        const appId = this.appWithHistory(from, msg.topic, 'asked to sequence a channel without history here');
        if (appId === null) {
          if (msg.id !== undefined) this.ack(from, msg.id);
          return;
        }
        const pid = msg.id === undefined ? undefined : `${from}:${msg.id}`;
        const done = this.deps.streams.received(
          appId,
          msg.topic,
          msg.frame,
          msg.except,
          msg.passed === true,
          pid,
          msg.retry === true,
        );
        if (msg.id !== undefined) this.ack(from, msg.id);
        if (done !== undefined)
          done.catch((err: unknown) => this.deps.logger.warn('an event sent to be sequenced was not kept', { err }));
        return;
      }
      case 'replay_req': {
        const appId = this.appWithHistory(from, msg.topic, 'asked for the history of a channel without history here');
        if (appId === null) return;
        const reply = msg.reply ?? from;
        const to = this.deps.streams.sequencerOf(msg.topic);
        if (to !== this.deps.peers.nodeId && msg.reply === undefined && this.deps.peers.replicates(to)) {
          // Handing over: the node that sequences the channel now answers, and marks its data subject.
          this.deps.peers.send(to, { ...msg, reply });
          return;
        }
        const answer = this.deps.sequencer.answer(
          appId,
          msg.topic,
          msg.from === null ? null : parsePosition(msg.from),
          msg.id,
        );
        if (!this.withinBudget(reply, answer.frames)) return;
        // The mark first: any event sequenced after this answer is published behind it.
        this.deps.peers.mark(msg.topic, msg.id);
        this.deps.peers.send(reply, answer);
        return;
      }
      case 'rep': {
        const appId = this.appWithHistory(from, msg.topic, 'sent a copy of a channel without history here');
        if (appId !== null) this.deps.replication.received(from, appId, msg);
        return;
      }
      case 'replay':
        this.deps.resumer.replied(msg);
        return;
    }
  }

  /** Takes the answer's bytes from `nodeId`'s replay bucket; false (logged every 10 s at most) when they do not fit. */
  private withinBudget(nodeId: string, frames: readonly string[]): boolean {
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    const now = (this.deps.now ?? Date.now)();
    let b = this.replayBudget.get(nodeId);
    if (!b) this.replayBudget.set(nodeId, (b = { bytes: REPLAY_BYTES_BURST, at: now, warnedAt: -Infinity }));
    b.bytes = Math.min(REPLAY_BYTES_BURST, b.bytes + ((now - b.at) / 1000) * REPLAY_BYTES_PER_SECOND);
    b.at = now;
    if (bytes <= b.bytes) {
      b.bytes -= bytes;
      return true;
    }
    if (now - b.warnedAt >= 10_000) {
      b.warnedAt = now;
      this.deps.logger.warn('a node asks for more history replays than allowed per second: not answered', {
        node: nodeId,
        bytesPerSecond: REPLAY_BYTES_PER_SECOND,
      });
    }
    return false;
  }

  /** The app of a peer's request about `topic`, or null (logged) when that channel keeps no history here. */
  private appWithHistory(from: string, topic: string, what: string): string | null {
    const { appId } = parseTopic(topic);
    if (this.deps.channels.handles(appId, topic)) return appId;
    this.deps.logger.warn(`${what}: is the config the same on every node?`, { node: from, appId });
    return null;
  }
}
