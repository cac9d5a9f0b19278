/**
 * The part of the uWebSockets.js API that wiremesh uses, typed here because the package is an
 * optional dependency: the build must not need it. Checked against the pinned binary
 * (see `uws-load.ts`) by the shared transport tests.
 *
 * Lifetimes matter more than shapes: an `UwsHttpRequest` is valid only until its handler returns
 * (copy what you need before any `await`); an `UwsHttpResponse` only until it is ended or aborted;
 * an `UwsWebSocket` only from `open` until its `close` handler returns — any call after that throws.
 */

/** Native listen socket (an opaque pointer). */
export type UwsListenSocket = object;

/** Native socket context handed to `upgrade` (an opaque pointer). */
export type UwsSocketContext = object;

export type UwsData = string | ArrayBuffer | Uint8Array;

export interface UwsHttpRequest {
  /** Lower-case header value or ''. */
  getHeader(lowerCaseKey: string): string;
  /** Path without the query string, as sent (not decoded). */
  getUrl(): string;
  /** Lower-case method. */
  getMethod(): string;
  /** Raw query string without `?`; `undefined` when the URL has none. */
  getQuery(): string | undefined;
  /** Every header, names lower-cased. */
  forEach(cb: (key: string, value: string) => void): void;
}

export interface UwsHttpResponse {
  writeStatus(status: string): UwsHttpResponse;
  writeHeader(key: string, value: string): UwsHttpResponse;
  end(body?: UwsData, closeConnection?: boolean): UwsHttpResponse;
  /** Must be attached before the handler returns unless the response is ended synchronously. */
  onAborted(handler: () => void): UwsHttpResponse;
  /** The chunk is neutered when the callback returns: copy it. */
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): UwsHttpResponse;
  /** Remote address as 4 (IPv4) or 16 (IPv6) bytes. */
  getRemoteAddress(): ArrayBuffer;
  cork(cb: () => void): UwsHttpResponse;
  /** Cuts the connection at once. */
  close(): UwsHttpResponse;
  upgrade<T>(
    userData: T,
    secWebSocketKey: string,
    secWebSocketProtocol: string,
    secWebSocketExtensions: string,
    context: UwsSocketContext,
  ): void;
}

export interface UwsWebSocket<T> {
  /** The object given to `res.upgrade` (uWS's per-socket user data). */
  getUserData(): T;
  /** 1 sent, 0 sent but buffered (backpressure), 2 dropped (over `maxBackpressure`). */
  send(message: UwsData, isBinary?: boolean, compress?: boolean): number;
  /** Close handshake with code and reason; calls the `close` handler synchronously. */
  end(code?: number, shortMessage?: UwsData): void;
  /** Cuts the connection without a close frame; also runs the `close` handler. */
  close(): void;
  getBufferedAmount(): number;
  /** Remote address as 4 (IPv4) or 16 (IPv6) bytes. */
  getRemoteAddress(): ArrayBuffer;
  subscribe(topic: UwsData): boolean;
  unsubscribe(topic: UwsData): boolean;
  isSubscribed(topic: UwsData): boolean;
  /** Publishes to every subscriber of `topic` except this socket. */
  publish(topic: UwsData, message: UwsData, isBinary?: boolean, compress?: boolean): boolean;
}

export interface UwsWebSocketBehavior<T> {
  maxPayloadLength: number;
  maxBackpressure: number;
  closeOnBackpressureLimit: boolean;
  idleTimeout: number;
  sendPingsAutomatically: boolean;
  compression: number;
  upgrade(res: UwsHttpResponse, req: UwsHttpRequest, context: UwsSocketContext): void;
  open(ws: UwsWebSocket<T>): void;
  message(ws: UwsWebSocket<T>, message: ArrayBuffer, isBinary: boolean): void;
  close(ws: UwsWebSocket<T>, code: number, message: ArrayBuffer): void;
}

export interface UwsApp {
  ws<T>(pattern: string, behavior: UwsWebSocketBehavior<T>): UwsApp;
  any(pattern: string, handler: (res: UwsHttpResponse, req: UwsHttpRequest) => void): UwsApp;
  listen(host: string, port: number, options: number, cb: (listenSocket: UwsListenSocket | false) => void): UwsApp;
  publish(topic: UwsData, message: UwsData, isBinary?: boolean, compress?: boolean): boolean;
  numSubscribers(topic: UwsData): number;
  /** Closes the listen sockets and every connection (present in the pinned build). */
  close?(): void;
  /** Called with +1 when a socket is accepted and -1 when it closes (uWS.js ≥ 20.4x only). */
  filter?(cb: (res: UwsHttpResponse, count: number) => void): UwsApp;
}

/** The module object of a uWebSockets.js binary. */
export interface UwsModule {
  App(): UwsApp;
  us_listen_socket_close(listenSocket: UwsListenSocket): void;
  us_socket_local_port(listenSocket: UwsListenSocket): number;
  DISABLED: number;
  /** Listen without SO_REUSEPORT, so a port in use is an error as with node:http. */
  LIBUS_LISTEN_EXCLUSIVE_PORT?: number;
}
