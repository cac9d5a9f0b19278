/**
 * Channel history behind the core's ChannelStreams port (core/streams.ts), for the channels an app
 * opts in (`apps[].history`); every other channel goes the direct way.
 *
 * One node sequences each channel's stream: its owner (cluster/membership.ts, the same rendezvous
 * choice as for webhooks; a single node owns everything). A publish on such a channel goes to the
 * owner (`seq`), whose Sequencer gives the event its position and keeps it; the owner then
 * publishes it the direct way, to its own sockets and the other nodes. A client resuming on any
 * node asks the owner for what it missed (history/resumer.ts). When the owner dies, the next
 * owner starts a new epoch: resuming clients are told the gap is unknown (`wiremesh:gap`), live
 * ones see the epoch change.
 */
import type { Connection } from '../core/connection.js';
import type { ChannelStreams, Except } from '../core/streams.js';
import type { HistoryChannels } from './channels.js';
import type { Resumer } from './resumer.js';
import type { Sequencer } from './sequencer.js';
import type { HistoryPeers } from './types.js';

export class HistoryStreams implements ChannelStreams {
  constructor(
    private readonly deps: {
      channels: HistoryChannels;
      sequencer: Pick<Sequencer, 'sequence'>;
      resumer: Pick<Resumer, 'resume' | 'cancel' | 'waiting'>;
      /** Where sequenced events, and the events of channels without history, go. */
      direct: ChannelStreams;
      /** null on a single node: it owns every stream. */
      peers: HistoryPeers | null;
    },
  ) {}

  publish(appId: string, topic: string, frame: string, except?: Except): void | Promise<void> {
    if (!this.deps.channels.handles(appId, topic)) return this.deps.direct.publish(appId, topic, frame, except);
    const peers = this.deps.peers;
    const owner = peers?.ownerOf(topic);
    if (!peers || owner === undefined || owner === peers.nodeId) return this.sequenced(appId, topic, frame, except);
    const exceptId = typeof except === 'string' || except === undefined ? except : except.socketId;
    peers.send(owner, { kind: 'seq', topic, frame, ...(exceptId === undefined ? {} : { except: exceptId }) });
  }

  /** On the owner: positioned, kept, then published the direct way. */
  sequenced(appId: string, topic: string, frame: string, except?: Except): void | Promise<void> {
    return this.deps.direct.publish(appId, topic, this.deps.sequencer.sequence(appId, topic, frame), except);
  }

  resume(conn: Connection, channel: string, topic: string, request: unknown, attach: () => void): boolean {
    return this.deps.resumer.resume(conn, channel, topic, request, attach);
  }

  cancel(conn: Connection, topic: string): void {
    this.deps.resumer.cancel(conn, topic);
  }

  waiting(topic: string): number {
    return this.deps.resumer.waiting(topic);
  }
}
