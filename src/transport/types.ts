/**
 * The seam between wiremesh and a WebSocket/HTTP library. One port serves both the WebSocket
 * endpoint and the HTTP API. Implementations: `ws` + node:http (portable, always available) and
 * uWebSockets.js (native, optional). Frames are handed over already serialized; a transport may
 * frame a published message once for all recipients.
 */

import type { TrustedProxies } from '../limits/client-address.js';
import type { AcceptGate } from '../limits/socket-guard.js';

export interface HttpRequest {
  method: string;
  /** Path without the query string, percent-decoding left to the router. */
  path: string;
  /** Raw query string without `?` (signatures are computed over raw values). */
  query: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
  /** The client: the TCP peer, or the client a trusted proxy named (TransportOptions.proxies). */
  remoteAddress: string;
}

/** A request before its body is read: what `admitHttp` sees. */
export type HttpHead = Omit<HttpRequest, 'body'>;

export interface HttpResponse {
  status: number;
  /** A list writes the header once per value (Set-Cookie). */
  headers?: Record<string, string | string[]>;
  body: string | Buffer;
}

export interface UpgradeInfo {
  path: string;
  query: string;
  headers: Record<string, string>;
  remoteAddress: string;
}

/** Outcome of a send: written/queued, or dropped because the socket is closed. */
export type SendResult = 'sent' | 'closed';

/**
 * A text frame's payload: its text, its UTF-8 bytes, or those bytes in pieces, sent as one frame
 * (the `ws` transport writes the pieces as they are; a large frame whose pieces other frames share
 * is then never copied per recipient).
 */
export type TextFrame = string | Buffer | readonly Buffer[];

/** One client connection as the core sees it. Never carries wiremesh state. */
export interface WsSocket {
  send(frame: TextFrame): SendResult;
  close(code: number, reason: string): void;
  /** Bytes queued for this socket and not yet written to the kernel. */
  bufferedAmount(): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  readonly remoteAddress: string;
}

/** What the core attaches to a socket when it opens; the transport calls it for that socket's life. */
export interface SocketHandler {
  onMessage(text: string): void;
  onClose(code: number, reason: string): void;
}

/** What the transport calls for every socket and HTTP request; given once, to `listen`. */
export interface TransportHooks {
  openSocket(socket: WsSocket, info: UpgradeInfo): SocketHandler;
  handleHttp(req: HttpRequest): Promise<HttpResponse>;
  /**
   * Called with the head of every HTTP request before any byte of its body is read (after a
   * Content-Length over `maxRequestBodyBytes` was refused). An answer refuses the request: its
   * body is read only to be discarded, never kept, and the answer sent at its end (so keep-alive
   * holds). Null reads and keeps the body, up to `maxRequestBodyBytes`. Absent: all are read.
   */
  admitHttp?(head: HttpHead): HttpResponse | null;
  /** The answer when a body grows past `maxRequestBodyBytes` while it is read (chunked, or a false length). */
  bodyTooLarge?(head: HttpHead): HttpResponse;
  /**
   * The most body bytes this request may have, when less than `maxRequestBodyBytes` (0: it may
   * have none): a declared length over it is answered `bodyTooLarge` before reading and the
   * connection closed; a body growing past it is cut there. Absent: `maxRequestBodyBytes`.
   */
  bodyLimit?(head: HttpHead): number;
}

/** The hooks of a transport that does not listen yet (nothing can reach them). */
export const NOT_LISTENING: TransportHooks = {
  openSocket(socket) {
    socket.close(1013, 'Not ready');
    return { onMessage() {}, onClose() {} };
  },
  handleHttp: async () => ({ status: 503, body: 'Not ready' }),
};

export interface TransportOptions {
  host: string;
  /**
   * Counts every accepted socket and refuses over its caps (limits/socket-guard.ts); also the
   * deadline for a socket's first request head. Absent: nothing is counted at accept.
   */
  gate?: AcceptGate;
  /** Peers whose X-Forwarded-For / Fly-Client-IP name the client (`remoteAddress` everywhere). */
  proxies?: TrustedProxies;
  port: number;
  /** Frames larger than this close the socket with 1009. */
  maxFrameBytes: number;
  /** HTTP bodies larger than this answer 413 (from Content-Length before reading, or as soon as the count passes it). */
  maxRequestBodyBytes: number;
  /** A socket whose queued bytes exceed this is closed with 4100 (client too slow). */
  maxBufferedBytes: number;
  /**
   * The port is shared with the node's other worker processes: uWebSockets.js binds with
   * SO_REUSEPORT (the kernel spreads connections), and so does the `ws` transport where node:net
   * has `reusePort` (ws-listen.ts); on an older Node its listen goes through node:cluster, which
   * shares it. Otherwise a port in use is an error.
   */
  sharedPort?: boolean;
}

export interface Transport {
  readonly name: 'ws' | 'uws';
  /** Starts serving: from now on every socket and request goes to `hooks`. Returns the port. */
  listen(hooks: TransportHooks): Promise<number>;
  /** Sends `frame` to every socket subscribed to `topic` except `except`; returns how many were sent to. */
  publish(topic: string, frame: string, except?: WsSocket): number;
  /** Number of sockets subscribed to `topic`. */
  topicSize(topic: string): number;
  /** Stop accepting new connections and HTTP requests (keeps open sockets). */
  stopAccepting(): Promise<void>;
  /** Close everything. */
  close(): Promise<void>;
}

/** Body of the close that a slow client gets. */
export const SLOW_CLIENT_CLOSE = { code: 4100, reason: 'Over capacity: client is not reading fast enough' } as const;
