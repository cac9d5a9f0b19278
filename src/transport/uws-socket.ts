/**
 * One uWebSockets.js WebSocket as the core sees it (`WsSocket`), and the per-socket data wiremesh
 * keeps in uWS's user data. uWS throws on any call to a socket whose close handler has run, so
 * every method checks the `closed` flag that the transport sets in that handler.
 */
import {
  SLOW_CLIENT_CLOSE,
  type SendResult,
  type SocketHandler,
  type TextFrame,
  type UpgradeInfo,
  type WsSocket,
} from './types.js';
import type { UwsWebSocket } from './uws-api.js';
import { formatAddress } from './uws-address.js';

/** uWS `send` result: dropped because the socket is over `maxBackpressure`. */
const DROPPED = 2;

/**
 * The upgrade request as the core sees it. The client address is formatted only when asked
 * (from the socket, once it is open): most connections never need it.
 */
export class UwsUpgradeInfo implements UpgradeInfo {
  /** Set when the socket opens. */
  socket: UwsSocket | null = null;

  constructor(
    readonly path: string,
    readonly query: string,
    readonly headers: Record<string, string>,
    /** The client a trusted proxy named (null: the TCP peer, read from the socket when asked). */
    readonly client: string | null = null,
  ) {}

  /** As UwsSocket.remoteAddress: '' if first asked after the socket closed. */
  get remoteAddress(): string {
    return this.client ?? this.socket?.remoteAddress ?? '';
  }
}

/** wiremesh's per-socket data, kept in uWS's user data (the object given to `res.upgrade`). */
export interface SocketData {
  /** From the upgrade request; handed to the core at open, then dropped. */
  info: UwsUpgradeInfo | null;
  socket: UwsSocket | null;
  handler: SocketHandler | null;
}

/** What a socket needs from its transport; also identifies the transport it belongs to. */
export interface SocketOwner {
  readonly maxBufferedBytes: number;
  /** Runs a uWS call that may run close handlers synchronously (end, close). */
  reentrant(fn: () => void): void;
}

export class UwsSocket implements WsSocket {
  private closed = false;
  /** Formatted on first read (most sockets are never asked; idle ones should not hold a string). */
  private address: string | null = null;

  constructor(
    private readonly ws: UwsWebSocket<SocketData>,
    readonly owner: SocketOwner,
    /** The client as a trusted proxy named it at the upgrade (null: the TCP peer, read when asked). */
    client: string | null = null,
  ) {
    this.address = client;
  }

  /** The client's address; '' if it is first asked after the socket closed. */
  get remoteAddress(): string {
    if (this.address === null && !this.closed) this.address = formatAddress(new Uint8Array(this.ws.getRemoteAddress()));
    return this.address ?? '';
  }

  /** Called from the close handler: from then on the native socket must not be touched. */
  markClosed(): void {
    this.closed = true;
  }

  send(frame: TextFrame): SendResult {
    if (this.closed) return 'closed';
    // uWebSockets.js copies what the kernel does not take into its own buffer either way.
    const status = this.ws.send(Array.isArray(frame) ? Buffer.concat(frame) : (frame as string | Buffer), false, false);
    if (this.closed) return 'closed';
    if (status === DROPPED || this.ws.getBufferedAmount() > this.owner.maxBufferedBytes) {
      this.close(SLOW_CLIENT_CLOSE.code, SLOW_CLIENT_CLOSE.reason);
      return 'closed';
    }
    return 'sent';
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    // end() runs the close handler synchronously; the core hears of it a microtask later, as with ws.
    this.owner.reentrant(() => this.ws.end(code, reason));
  }

  /** Cuts the connection without a close frame. */
  terminate(): void {
    if (this.closed) return;
    this.owner.reentrant(() => this.ws.close());
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  subscribe(topic: string): void {
    if (!this.closed) this.ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.closed) this.ws.unsubscribe(topic);
  }

  isSubscribed(topic: string): boolean {
    return !this.closed && this.ws.isSubscribed(topic);
  }

  /** Publishes to every subscriber of `topic` but this socket (uWS frames it once). */
  publishToOthers(topic: string, frame: string): void {
    if (!this.closed) this.ws.publish(topic, frame, false, false);
  }
}
