/** The seams of channel history: what it needs from the cluster link, and what the link delivers to it. */
import type { HistoryMessage } from './wire.js';

/** Implemented by the cluster link (cluster/link.ts); a single node has none (it owns every stream). */
export interface HistoryLink {
  readonly self: string;
  /** The live node that sequences and keeps `topic`'s stream (the owner that also sends its webhooks). */
  ownerOf(topic: string): string;
  /** A history message to one node. */
  sendHistory(to: string, msg: HistoryMessage): void;
  /** A mark on `topic`'s data subject, behind every event this node published on it before. */
  markHistory(topic: string, id: string): void;
  /** Whether `replica`, which just went down, owned `topic` (among the nodes live now and it). */
  wasOwner(replica: string, topic: string): boolean;
}

export interface HistoryInbound {
  historyMessage(from: string, msg: HistoryMessage): void;
  historyMarked(topic: string, id: string): void;
  /** A node stopped heartbeating: the streams it sequenced are gone. */
  nodeDown(replica: string): void;
}
