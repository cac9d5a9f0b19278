/** What channel history needs of the other nodes (history/cluster.ts implements it over the cluster node). */
import type { HistoryMessage } from './wire.js';

/** The other nodes as channel history sees them: who sequences a channel, and a way to it. None on a single node. */
export interface HistoryPeers {
  readonly nodeId: string;
  /** The live node that sequences and keeps `topic`'s stream (the owner that also sends its webhooks). */
  ownerOf(topic: string): string;
  /**
   * The node second in rendezvous order for `topic` (this one included; undefined alone): the
   * owner once the owner is gone, where the owner keeps its copy of the stream.
   */
  nextOf(topic: string): string | undefined;
  /** Whether `nodeId` keeps copies of streams (`rep`; its heartbeats say so): a build that does not would refuse them. */
  replicates(nodeId: string): boolean;
  /** Whether `nodeId`, which just went down, owned `topic` (among the nodes live now and it). */
  wasOwner(nodeId: string, topic: string): boolean;
  /** A history message to one node. */
  send(to: string, msg: HistoryMessage): void;
  /** A mark on `topic`'s data subject, behind every event this node published on it before. */
  mark(topic: string, id: string): void;
}
