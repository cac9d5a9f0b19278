/**
 * Copies of the streams this node sequences, kept on the next node in rendezvous order
 * (HistoryPeers.nextOf): the node that becomes each channel's owner when this one goes away,
 * crashed or stopped. The owner sends each event there (`rep`, history/wire.ts) before it
 * publishes it; the first copy a node gets, and any copy after the next node changed, is the whole
 * stream (`snap`). A copy is kept in the same store as the streams a node owns, under the owner's
 * epoch: when the owner goes, the next node sequences on from it and resuming clients see no reset.
 *
 * A copy is only as good as the messages that made it: one kept by a node that is no longer the
 * next node may go stale, so it is dropped when membership moves it out of that place. A node
 * that takes a stream over while its owner lives (a node coming back after a restart outranks it)
 * is handed the whole stream, and continues it if it has not started one of its own yet.
 */
import type { Logger } from '../log/logger.js';
import { formatPosition, parsePosition } from './position.js';
import type { HistoryStore } from './store.js';
import type { ChannelStream } from './stream.js';
import type { HistoryPeers } from './types.js';
import type { HistoryMessage } from './wire.js';

type Rep = Extract<HistoryMessage, { kind: 'rep' }>;

export class Replication {
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      store: HistoryStore;
      peers: HistoryPeers;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** On the owner, once `stream` kept `frame` (its new head): a copy to the next node. */
  sequenced(topic: string, stream: ChannelStream, frame: string): void {
    const { peers } = this.deps;
    stream.sequencing = true;
    const next = peers.nextOf(topic);
    if (next === undefined || !peers.replicates(next)) {
      stream.replicaAt = undefined;
      return;
    }
    if (stream.replicaAt === next) {
      const pid = stream.headPid;
      peers.send(next, {
        kind: 'rep',
        topic,
        head: formatPosition(stream.head),
        frames: [frame],
        snap: false,
        ...(pid === '' ? {} : { pids: [pid] }),
      });
      return;
    }
    stream.replicaAt = next;
    this.snapshot(next, topic, stream);
  }

  /** A copy from the node that sequences `topic` (or did, handing it over). */
  received(from: string, appId: string, msg: Rep): void {
    const head = parsePosition(msg.head);
    if (head === null || head.serial < msg.frames.length) {
      this.deps.logger.warn('dropped a stream copy with a malformed head', { node: from, appId });
      return;
    }
    const { store, peers } = this.deps;
    const now = this.now();
    let stream = store.get(appId, msg.topic);
    if (stream && stream.epoch !== head.epoch) {
      if (stream.sequencing && stream.length > 0 && peers.ownerOf(msg.topic) === peers.nodeId) {
        // Our own stream, already sequencing: an owner never gives it up for another copy.
        this.deps.logger.info('kept this node’s stream of a channel over a copy of another epoch', {
          node: from,
          appId,
        });
        return;
      }
      stream = undefined;
    }
    // A copy that starts after serial 1 without the events before it starts at a hole (replicate()).
    stream ??= store.adopt(appId, msg.topic, head.epoch, now);
    stream.replicate(head.serial, msg.frames, now, msg.pids);
  }

  /**
   * This node stops: each stream it owns goes whole to the next node unless that node has the
   * latest copy already; what is published after this goes there (history/streams.ts).
   */
  handOver(): number {
    const { store, peers } = this.deps;
    let sent = 0;
    for (const [, topic, stream] of store.entries()) {
      if (peers.ownerOf(topic) !== peers.nodeId) continue;
      const next = peers.nextOf(topic);
      if (next === undefined || !peers.replicates(next) || stream.replicaAt === next) continue;
      stream.replicaAt = next;
      this.snapshot(next, topic, stream);
      sent++;
    }
    return sent;
  }

  /**
   * Membership changed. A stream this node sequenced whose owner is now another node (one that came
   * back) is handed to it whole; a copy this node holds but would no longer get (it is not second
   * for its channel any more) may go stale, so it goes.
   */
  membershipChanged(): void {
    const { store, peers } = this.deps;
    for (const [appId, topic, stream] of store.entries()) {
      const owner = peers.ownerOf(topic);
      if (owner === peers.nodeId) continue;
      if (stream.sequencing) {
        stream.sequencing = false;
        stream.replicaAt = undefined;
        if (peers.replicates(owner)) this.snapshot(owner, topic, stream);
      }
      if (peers.nextOf(topic) !== peers.nodeId) store.delete(appId, topic);
    }
  }

  private snapshot(to: string, topic: string, stream: ChannelStream): void {
    const { head, frames, pids } = stream.snapshot();
    this.deps.peers.send(to, { kind: 'rep', topic, head: formatPosition(head), frames, snap: true, pids });
  }
}
