/**
 * The core's port for where a channel event goes once it is built: `ChannelStreams`. The core
 * publishes and resumes through it and knows no more: whether the channel keeps a stream (channel
 * history, history/streams.ts), where that stream is kept (this process today; a store such as
 * Redis Streams or JetStream tomorrow) and what a position looks like (an opaque string to the
 * core) are the implementation's. The composition root picks one: `DirectStreams` (below) when no
 * app keeps history, else history's, which sends the channels without history here.
 */
import type { ClusterLink } from '../cluster/types.js';
import type { TextFrame, WsSocket } from '../transport/types.js';
import type { Connection } from './connection.js';
import type { LocalDelivery } from './delivery.js';

/**
 * The socket an event skips (its sender's): a local connection (a client event; the HTTP API when
 * the socket is on this node), or the id of a socket on another node or of none known here.
 */
export type Except = Pick<Connection, 'socketId' | 'socket'> | string;

/**
 * A subscription whose confirmation a resume takes over: the client is told it is subscribed
 * (`succeeded`, which the stream may give its starting position) only together with what it
 * needs to resume from there, so a client cut off right after `subscription_succeeded` never
 * lacks a position; the socket is attached to the live events after the replay (`attach`).
 */
export interface Confirm {
  /**
   * The `pusher_internal:subscription_succeeded` frame (presence: with the member list, in pieces
   * that are views of the channel's encoded list: valid in this turn only, copy it to keep it).
   */
  readonly succeeded: TextFrame;
  /** Called right after the confirmation is sent: what follows it (a cache channel's last event). */
  confirmed(): void;
  attach(): void;
}

export interface ChannelStreams {
  /**
   * Publishes `frame` (built by frames.channelEvent) to `topic`'s subscribers on every node but
   * `except`. At most once, in order per publisher and topic. Returns nothing when the event is
   * on its way (the direct path, synchronous and allocation-free); a promise when it is appended
   * to a store first, settled once it is kept (rejected: not kept, not delivered).
   */
  publish(appId: string, topic: string, frame: string, except?: Except): void | Promise<void>;
  /**
   * A subscription on `channel` was accepted with a resume request (`wm_resume`, the client's,
   * unchecked). Returns true when the stream takes over confirming it and attaching the socket to
   * `topic` (`confirm`, once its position is known); false when the request does not apply and
   * the caller confirms and attaches it now.
   */
  resume(conn: Connection, channel: string, topic: string, request: unknown, confirm: Confirm): boolean;
  /** The connection left `topic` (or closed): a resume still waiting for it is dropped. */
  cancel(conn: Connection, topic: string): void;
  /**
   * Subscribers of `topic` whose resume still waits (their sockets are not attached yet): the node
   * keeps watching the topic for them, as for attached ones.
   */
  waiting(topic: string): number;
}

/** Finds a local connection by socket id (the core's registry). */
export interface SocketLookup {
  get(socketId: string): Pick<Connection, 'socket'> | undefined;
}

/** Today's path for every channel without history: delivered to this node's sockets, forwarded to the others. */
export class DirectStreams implements ChannelStreams {
  constructor(
    private readonly deps: {
      delivery: LocalDelivery;
      link: Pick<ClusterLink, 'forward'>;
      sockets: SocketLookup;
    },
  ) {}

  publish(appId: string, topic: string, frame: string, except?: Except): void {
    let socket: WsSocket | undefined;
    let socketId: string | undefined;
    if (typeof except === 'string') {
      socketId = except;
      socket = this.deps.sockets.get(except)?.socket;
    } else if (except !== undefined) {
      socketId = except.socketId;
      socket = except.socket;
    }
    this.deps.delivery.toTopic(appId, topic, frame, socket);
    this.deps.link.forward(topic, frame, socketId);
  }

  resume(): boolean {
    return false;
  }

  cancel(): void {}

  waiting(): number {
    return 0;
  }
}
