/**
 * The cluster link over any backend: it only carries bytes. Channel traffic goes on per-topic
 * subjects (a node subscribes only while it has local subscribers), control messages on one shared
 * subject and one per node. What the control messages mean (membership, replication, user
 * commands) is decided above it, in cluster/node.ts and presence/replicator.ts.
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
  type ControlMessage,
} from './envelope.js';

/** What the link hands up, registered once at start. */
export interface LinkReceiver {
  /** A channel frame published by another node on a watched topic. */
  data(topic: string, frame: string, exceptSocketId: string | undefined): void;
  /** A decoded control message from another node. */
  control(msg: ControlMessage): void;
  /** A history mark (history/resume.ts) another node published on a watched topic. */
  mark(topic: string, id: string): void;
  /** The backend connection went down or came back. */
  connectionChanged(up: boolean): void;
}

export class BackendLink {
  private readonly subjects: Subjects;
  private readonly watched = new Map<string, string>(); // subject -> topic
  private receiver: LinkReceiver | null = null;

  constructor(
    private readonly deps: {
      backend: ClusterBackend;
      prefix: string;
      /** This node's replica id: its own messages are dropped on the way in. */
      self: string;
      logger: Logger;
    },
  ) {
    this.subjects = new Subjects(deps.prefix);
  }

  get backendName(): string {
    return this.deps.backend.name;
  }

  async start(receiver: LinkReceiver): Promise<void> {
    this.receiver = receiver;
    const { backend } = this.deps;
    await backend.connect({
      message: (subject, payload) => this.onMessage(subject, payload),
      connectionChanged: (up) => receiver.connectionChanged(up),
    });
    backend.subscribe(this.subjects.control);
    backend.subscribe(this.subjects.node(this.deps.self));
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
    this.deps.backend.publish(this.subjects.data(topic), encodeData(this.deps.self, exceptSocketId, frame));
  }

  /** A history mark on `topic`'s data subject, behind every frame this node forwarded on it before. */
  mark(topic: string, id: string): void {
    this.deps.backend.publish(this.subjects.data(topic), encodeMark(this.deps.self, id));
  }

  /** Sends a control message to every node, or to one. */
  send(msg: ControlMessage, to?: string): void {
    const subject = to === undefined ? this.subjects.control : this.subjects.node(to);
    this.deps.backend.publish(subject, encodeControl(msg));
  }

  private onMessage(subject: string, payload: Buffer): void {
    const receiver = this.receiver;
    if (receiver === null) return;
    const { logger, self } = this.deps;
    if (this.subjects.isData(subject)) {
      const topic = this.watched.get(subject);
      if (topic === undefined) return;
      const mark = decodeMark(payload);
      if (mark) {
        if (mark.origin !== self) receiver.mark(topic, mark.id);
        return;
      }
      const env = decodeData(payload);
      if (!env) {
        logger.warn('dropped a malformed data envelope', { subject });
        return;
      }
      if (env.origin !== self) receiver.data(topic, env.frame, env.except);
      return;
    }
    let msg: ControlMessage;
    try {
      msg = decodeControl(payload);
    } catch (err) {
      logger.warn('dropped a malformed control message', { subject, err });
      return;
    }
    if (msg.from === self) return;
    try {
      receiver.control(msg);
    } catch (err) {
      logger.warn('could not apply a control message', { type: msg.type, from: msg.from, err });
    }
  }
}
