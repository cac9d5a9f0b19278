/**
 * Delivery to this node's own sockets: one serialized frame to every local subscriber of a topic
 * (the transport fans it out), counted in the outbound metrics, and shown to an observer when one
 * is given (channel history's waiting resumes, which buffer what their socket is not attached to
 * yet). Frames for other nodes go through the cluster link, never through here.
 */
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { Transport, WsSocket } from '../transport/types.js';

/** The transport's side of local delivery. */
export type TopicFanout = Pick<Transport, 'publish' | 'topicSize'>;

/** Sees every frame delivered here, and holds subscribers of its own that the transport does not. */
export interface DeliveryObserver {
  /** `frame` was just delivered to `topic`'s local sockets (but `except`). */
  delivered(topic: string, frame: string, except: WsSocket | undefined): void;
  /** Subscribers of `topic` the observer holds (they count: the topic stays watched while they wait). */
  waiting(topic: string): number;
}

export class LocalDelivery {
  private readonly observer: DeliveryObserver | undefined;

  constructor(
    private readonly deps: {
      fanout: TopicFanout;
      metrics: Pick<ServerMetrics, 'messagesOut' | 'bytesOut'>;
      observer?: DeliveryObserver;
    },
  ) {
    this.observer = deps.observer;
  }

  /** Sends `frame` to the local subscribers of `topic` (but `except`); returns how many got it. */
  toTopic(appId: string, topic: string, frame: string, except?: WsSocket): number {
    const n = this.deps.fanout.publish(topic, frame, except);
    if (n > 0) {
      this.deps.metrics.messagesOut.inc({ app: appId }, n);
      this.deps.metrics.bytesOut.inc({ app: appId }, n * frame.length);
    }
    if (this.observer !== undefined) this.observer.delivered(topic, frame, except);
    return n;
  }

  /** Local subscribers of `topic`, the observer's included. */
  topicSize(topic: string): number {
    const n = this.deps.fanout.topicSize(topic);
    return this.observer === undefined ? n : n + this.observer.waiting(topic);
  }
}
