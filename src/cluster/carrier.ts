/**
 * The Carrier moves bytes between nodes over any backend, and understands none of them: channel
 * traffic goes on per-topic subjects (a node subscribes only while it has local subscribers),
 * control messages on one shared subject and one per node. It checks envelopes (cluster/envelope.ts)
 * and drops its own node's messages; what a control message means is decided by the feature that
 * registered its type with the node (cluster/node.ts).
 */
import type { Logger } from '../log/logger.js';
import type { ClusterBackend } from './backends/types.js';
import {
  Subjects,
  decodeControl,
  decodeData,
  decodeMark,
  encodeControl,
  encodeData,
  encodeMark,
  type ControlFields,
  type ControlMessage,
} from './envelope.js';

/** What the carrier hands up, given when it connects (the node). */
export interface CarrierReceiver {
  /** A channel frame published by another node on a watched topic. */
  data(topic: string, frame: string, exceptSocketId: string | undefined): void;
  /** A control message from another node, its envelope checked. */
  control(msg: ControlMessage): void;
  /** A mark another node published on a watched topic. */
  mark(topic: string, id: string): void;
  /** The backend connection went down or came back. */
  connectionChanged(up: boolean): void;
  /** The direct connection a node's messages came by closed (the mesh): that node is gone. */
  nodeGone(nodeId: string): void;
}

/** Nodes whose direct connection is remembered (bounded: node ids are a peer's input). */
const MAX_DIRECT_PEERS = 4_096;

export class Carrier {
  private readonly subjects: Subjects;
  private readonly watched = new Map<string, string>(); // subject -> topic
  private receiver: CarrierReceiver | null = null;
  /** For a direct backend: the peer connection each node's control messages last came by. */
  private readonly peerOf = new Map<string, string>();

  constructor(
    private readonly deps: {
      backend: ClusterBackend;
      prefix: string;
      /** This node's id: its own messages are dropped on the way in. */
      nodeId: string;
      logger: Logger;
    },
  ) {
    this.subjects = new Subjects(deps.prefix);
  }

  get backendName(): string {
    return this.deps.backend.name;
  }

  /** Connects the backend and subscribes the control subjects; `receiver` gets what arrives. */
  async connect(receiver: CarrierReceiver): Promise<void> {
    this.receiver = receiver;
    const { backend } = this.deps;
    await backend.connect({
      message: (subject, payload, peer) => this.onMessage(subject, payload, peer),
      connectionChanged: (up) => receiver.connectionChanged(up),
      peerGone: (peer) => this.peerGone(peer),
    });
    backend.subscribe(this.subjects.control);
    backend.subscribe(this.subjects.node(this.deps.nodeId));
  }

  async close(): Promise<void> {
    await this.deps.backend.close();
  }

  watch(topic: string): void {
    const subject = this.subjects.data(topic);
    this.watched.set(subject, topic);
    this.deps.backend.subscribe(subject);
  }

  unwatch(topic: string): void {
    const subject = this.subjects.data(topic);
    this.watched.delete(subject);
    this.deps.backend.unsubscribe(subject);
  }

  forward(topic: string, frame: string, exceptSocketId?: string): void {
    this.deps.backend.publish(this.subjects.data(topic), encodeData(this.deps.nodeId, exceptSocketId, frame));
  }

  /** A mark on `topic`'s data subject, behind every frame this node forwarded on it before. */
  mark(topic: string, id: string): void {
    this.deps.backend.publish(this.subjects.data(topic), encodeMark(this.deps.nodeId, id));
  }

  /**
   * A payload of `topic`'s data subject that came by another way than the backend (the nats
   * history store's JetStream consumer): handled as if it came on the subject, so it is dropped
   * unless the topic is watched here.
   */
  inbound(topic: string, payload: Buffer): void {
    this.onMessage(this.subjects.data(topic), payload, undefined);
  }

  /** Sends `{ v: 1, type, from, ...fields }` to every node, or to one. */
  send(type: string, fields: ControlFields, to?: string): void {
    const subject = to === undefined ? this.subjects.control : this.subjects.node(to);
    this.deps.backend.publish(subject, encodeControl(type, this.deps.nodeId, fields));
  }

  /** Every node whose messages last came by `peer`'s connection is gone (a node restarted since came by another). */
  private peerGone(peer: string): void {
    for (const [nodeId, by] of this.peerOf) {
      if (by !== peer) continue;
      this.peerOf.delete(nodeId);
      this.receiver?.nodeGone(nodeId);
    }
  }

  private onMessage(subject: string, payload: Buffer, peer: string | undefined): void {
    const receiver = this.receiver;
    if (receiver === null) return;
    const { logger, nodeId } = this.deps;
    if (this.subjects.isData(subject)) {
      const topic = this.watched.get(subject);
      if (topic === undefined) return;
      const mark = decodeMark(payload);
      if (mark) {
        if (mark.origin !== nodeId) receiver.mark(topic, mark.id);
        return;
      }
      const env = decodeData(payload);
      if (!env) {
        logger.warn('dropped a malformed data envelope', { subject });
        return;
      }
      if (env.origin !== nodeId) receiver.data(topic, env.frame, env.except);
      return;
    }
    let msg: ControlMessage;
    try {
      msg = decodeControl(payload);
    } catch (err) {
      logger.warn('dropped a malformed control message', { subject, err });
      return;
    }
    if (msg.from === nodeId) return;
    if (peer !== undefined && this.peerOf.get(msg.from) !== peer) {
      if (this.peerOf.size >= MAX_DIRECT_PEERS && !this.peerOf.has(msg.from)) this.peerOf.clear();
      this.peerOf.set(msg.from, peer);
    }
    receiver.control(msg);
  }
}
