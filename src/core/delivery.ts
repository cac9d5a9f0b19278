/**
 * Delivery to this node's own sockets: one serialized frame to every local subscriber of a topic
 * (the transport fans it out), counted in the outbound metrics. Frames for other nodes go through
 * the cluster link, never through here.
 */
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { Transport, WsSocket } from '../transport/types.js';

/** The transport's side of local delivery. */
export type TopicFanout = Pick<Transport, 'publish' | 'topicSize'>;

export class LocalDelivery {
  constructor(
    private readonly deps: {
      fanout: TopicFanout;
      metrics: Pick<ServerMetrics, 'messagesOut' | 'bytesOut'>;
    },
  ) {}

  /** Sends `frame` to the local subscribers of `topic` (but `except`); returns how many got it. */
  toTopic(appId: string, topic: string, frame: string, except?: WsSocket): number {
    const n = this.deps.fanout.publish(topic, frame, except);
    if (n > 0) {
      this.deps.metrics.messagesOut.inc({ app: appId }, n);
      this.deps.metrics.bytesOut.inc({ app: appId }, n * frame.length);
    }
    return n;
  }

  /** Local subscribers of `topic`. */
  topicSize(topic: string): number {
    return this.deps.fanout.topicSize(topic);
  }
}
