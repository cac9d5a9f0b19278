/**
 * A channel's stream kept outside the process, in the cluster's broker (a Redis Stream per channel
 * on the redis driver): any node appends to it and any node replays from it, with no owner node
 * on the way. The broker also carries the live event, in the same step as the append, so every
 * node receives a channel's events in the stream's order, the publishing node included (it takes
 * its own copy from the broker like any other node).
 */
import type { Position } from '../position.js';
import type { Answer } from '../resume.js';

/** Who the live copies come from: not any node, so every node (the publisher too) delivers them. */
export const STORE_ORIGIN = '*';

/**
 * Where a store that carries the live copies by a way of its own (JetStream's consumer on the
 * nats driver) hands them, and its marks: a payload of `topic`'s data subject, handled as if it
 * came on that subject (cluster/carrier.ts).
 */
export type StoreInbound = (topic: string, payload: Buffer) => void;

export interface ChannelStore {
  /**
   * Whether events published while this node's broker connection was down are lost to its live
   * copies (Redis pub/sub: yes, so resuming clients are told of the gap when it comes back;
   * JetStream's consumer resumes after the last event it delivered: no).
   */
  readonly reconnectLoses: boolean;
  /**
   * Appends a channel event (built by frames.channelEvent) to `topic`'s stream, giving it the next
   * position (`wm_pos`), and publishes it on the topic's data subject in the same atomic step.
   * Resolves once it is kept; rejects when it is not (and then it was not delivered either).
   * Only an append creates a stream.
   */
  append(appId: string, topic: string, frame: string, exceptSocketId?: string): Promise<void>;
  /**
   * What a client that has seen `from` missed (null: a new subscription, which only needs the
   * head), read in one atomic step with a mark of `id` published on the topic's data subject:
   * every event appended after the read arrives behind the mark. Never creates a stream: a topic
   * with none answers with an empty head (`''`).
   */
  replay(appId: string, topic: string, from: Position | null, id: string): Promise<Answer>;
  close(): Promise<void>;
}
