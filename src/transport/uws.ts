/**
 * Native transport on uWebSockets.js (optional; loaded by select.ts through `loadNative()`, which
 * throws when the binary is missing or does not load, and select.ts then uses ws.ts). One uWS app
 * serves WebSocket upgrades on every path and the HTTP API (uws-http.ts) on one port.
 *
 * Topics are uWS's own pub/sub: `publish` hands the frame to C++ once and uWS frames and writes it
 * to every subscriber, batching several messages to one socket into one write per loop turn.
 *
 * Behaves like ws.ts, with these differences that come from uWS:
 * - uWS reads frames up to twice `maxFrameBytes`: one above the limit is closed with 1009 here, as
 *   ws.ts does; one above twice the limit is cut by uWS itself (1006 on the client, no close
 *   frame). Both are logged with the client's address.
 * - A slow client is closed with 4100 when a direct `send` leaves more than `maxBufferedBytes`
 *   queued. Frames from `publish` are queued in C++: a subscriber that falls more than
 *   `maxBufferedBytes` + CLOSE_HEADROOM_BYTES behind is cut by uWS (`closeOnBackpressureLimit`),
 *   without a close frame.
 * - The client address (of a socket, and of its upgrade info) is formatted when first asked, from
 *   the open socket: '' when first asked after the socket closed. The core copies the handshake
 *   it keeps, so this never shows there.
 */
import type { Logger } from '../log/logger.js';
import { NOT_LISTENING, type Transport, type TransportHooks, type TransportOptions, type WsSocket } from './types.js';
import type {
  UwsApp,
  UwsHttpRequest,
  UwsHttpResponse,
  UwsListenSocket,
  UwsModule,
  UwsSocketContext,
  UwsWebSocket,
} from './uws-api.js';
import { frameTooLarge } from './frame-limit.js';
import { withDefaultHooks } from './http-admission.js';
import { failHttp, readHeaders, remoteAddressOf, serveHttp, type UwsHttpDeps } from './uws-http.js';
import { UwsSocket, UwsUpgradeInfo, type SocketData, type SocketOwner } from './uws-socket.js';

export { loadNative, loadUws } from './uws-load.js';

/** Room above `maxBufferedBytes` so the 4100 close frame still fits after a send crossed the limit. */
export const CLOSE_HEADROOM_BYTES = 64 * 1024;

export class UwsTransport implements Transport {
  readonly name = 'uws' as const;
  private readonly app: UwsApp;
  private listenSocket: UwsListenSocket | null = null;
  private accepting = true;
  private hooks: TransportHooks = NOT_LISTENING;
  private closed = false;
  /** > 0 while wiremesh itself is inside a uWS call that may run close handlers. */
  private depth = 0;
  private readonly owner: SocketOwner;
  /** Open sockets, tracked only when the app cannot close them itself (builds without `app.close()`). */
  private readonly sockets: Set<UwsSocket> | null;
  private readonly http: UwsHttpDeps;

  constructor(
    private readonly uws: UwsModule,
    readonly options: TransportOptions,
    private readonly logger: Logger,
  ) {
    this.app = uws.App();
    this.sockets = typeof this.app.close === 'function' ? null : new Set();
    this.owner = { maxBufferedBytes: options.maxBufferedBytes, reentrant: (fn) => this.reentrant(fn) };
    this.http = {
      // Replaced by the hooks given at listen(): the head checks as well as the handler.
      hooks: withDefaultHooks(NOT_LISTENING, options),
      logger,
      maxRequestBodyBytes: options.maxRequestBodyBytes,
      ...(options.proxies ? { proxies: options.proxies } : {}),
      accepting: () => this.accepting,
    };
    const gate = options.gate;
    // Sockets counted at accept where the build can tell (uWS.js ≥ 20.4x: `filter`, called with +1
    // when a socket opens and -1 when it closes). uWS itself cuts a socket that has not sent a
    // complete request within ~10 s (its HTTP idle timeout, not configurable).
    if (gate !== undefined && typeof this.app.filter === 'function') {
      this.app.filter((res, count) => {
        try {
          const address = remoteAddressOf(res);
          if (count < 0) gate.release(address);
          else if (!gate.accept(address)) res.close();
        } catch (err) {
          logger.error('counting a socket failed', { err });
        }
      });
    }
    this.app.ws<SocketData>('/*', {
      // Room above the limit, so an oversized frame still arrives and is closed with 1009 (onMessage).
      maxPayloadLength: 2 * options.maxFrameBytes,
      maxBackpressure: options.maxBufferedBytes + CLOSE_HEADROOM_BYTES,
      closeOnBackpressureLimit: true,
      idleTimeout: 0, // the core pings
      sendPingsAutomatically: false,
      compression: uws.DISABLED,
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => this.onOpen(ws),
      message: (ws, message, isBinary) => this.onMessage(ws, message, isBinary),
      close: (ws, code, message) => this.onClose(ws, code, message),
    });
    // Registered after ws(): a GET that is not a WebSocket upgrade falls through to here.
    this.app.any('/*', (res, req) => {
      try {
        serveHttp(res, req, this.http);
      } catch (err) {
        failHttp(res, logger, err);
      }
    });
  }

  /** Runs `fn` (a uWS call) marking close handlers inside it as re-entrant. */
  private reentrant(fn: () => void): void {
    this.depth++;
    try {
      fn();
    } finally {
      this.depth--;
    }
  }

  // Exceptions must not escape a uWS callback: the native side would abort the process.

  private onUpgrade(res: UwsHttpResponse, req: UwsHttpRequest, context: UwsSocketContext): void {
    try {
      if (!this.accepting) {
        res.writeStatus('503 Service Unavailable').end('', true);
        return;
      }
      const headers = readHeaders(req);
      // Behind a trusted proxy the client is named now, while the request's headers are at hand.
      const proxies = this.options.proxies;
      const peer = proxies === undefined || proxies.size === 0 ? null : remoteAddressOf(res);
      const client = peer === null ? null : proxies!.clientOf(peer, headers);
      const info = new UwsUpgradeInfo(req.getUrl(), req.getQuery() ?? '', headers, client);
      const data: SocketData = { info, socket: null, handler: null };
      // Like ws: accept the first sub-protocol offered, if any.
      const protocol = (headers['sec-websocket-protocol'] ?? '').split(',')[0]!.trim();
      res.upgrade(
        data,
        headers['sec-websocket-key'] ?? '',
        protocol,
        headers['sec-websocket-extensions'] ?? '',
        context,
      );
    } catch (err) {
      failHttp(res, this.logger, err);
    }
  }

  private onOpen(ws: UwsWebSocket<SocketData>): void {
    const data = ws.getUserData();
    const info = data.info!;
    data.info = null;
    const socket = new UwsSocket(ws, this.owner, info.client);
    info.socket = socket;
    data.socket = socket;
    this.sockets?.add(socket);
    try {
      data.handler = this.hooks.openSocket(socket, info);
    } catch (err) {
      this.logger.error('opening a socket failed', { err });
      socket.close(1011, 'Internal server error');
    }
  }

  private onMessage(ws: UwsWebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const data = ws.getUserData();
    if (message.byteLength > this.options.maxFrameBytes && data.socket) {
      frameTooLarge(this.logger, data.socket.remoteAddress, message.byteLength, this.options.maxFrameBytes);
      data.socket.close(1009, 'Message too big');
      return;
    }
    if (isBinary) return; // the Pusher protocol is text only
    const handler = data.handler;
    if (!handler) return;
    try {
      handler.onMessage(Buffer.from(message).toString());
    } catch (err) {
      this.logger.error('socket message handler failed', { err });
    }
  }

  private onClose(ws: UwsWebSocket<SocketData>, code: number, message: ArrayBuffer): void {
    const data = ws.getUserData();
    const socket = data.socket;
    if (code === 1006 && socket && /too big/i.test(Buffer.from(message).toString()))
      frameTooLarge(this.logger, socket.remoteAddress, 2 * this.options.maxFrameBytes, this.options.maxFrameBytes);
    socket?.markClosed();
    if (socket) this.sockets?.delete(socket);
    const reason = Buffer.from(message).toString();
    // uWS has already dropped the socket from its topics. Inside our own end()/app.close() the
    // core is told later, so it never sees onClose in the middle of its own close() call.
    if (this.depth > 0) queueMicrotask(() => this.finish(data, code, reason));
    else this.finish(data, code, reason);
  }

  private finish(data: SocketData, code: number, reason: string): void {
    const handler = data.handler;
    data.handler = null;
    data.socket = null;
    try {
      handler?.onClose(code, reason);
    } catch (err) {
      this.logger.error('socket close handler failed', { err });
    }
  }

  publish(topic: string, frame: string, except?: WsSocket): number {
    const size = this.app.numSubscribers(topic);
    if (size === 0) return 0;
    if (except instanceof UwsSocket && except.owner === this.owner && except.isSubscribed(topic)) {
      except.publishToOthers(topic, frame);
      return size - 1;
    }
    this.app.publish(topic, frame, false, false);
    return size;
  }

  topicSize(topic: string): number {
    return this.app.numSubscribers(topic);
  }

  async listen(hooks: TransportHooks): Promise<number> {
    this.hooks = hooks;
    this.http.hooks = withDefaultHooks(hooks, this.options);
    const { host, port } = this.options;
    const result: { socket: UwsListenSocket | false } = { socket: false };
    // Exclusive: without it uSockets sets SO_REUSEPORT and a second server on the port would not
    // fail. Worker processes of one node want exactly that: the kernel spreads connections.
    const flags = this.options.sharedPort ? 0 : (this.uws.LIBUS_LISTEN_EXCLUSIVE_PORT ?? 0);
    this.app.listen(host, port, flags, (socket) => {
      result.socket = socket;
    });
    if (!result.socket)
      throw new Error(`uWebSockets.js could not listen on ${host}:${port} (address in use or not permitted)`);
    this.listenSocket = result.socket;
    return this.uws.us_socket_local_port(result.socket);
  }

  async stopAccepting(): Promise<void> {
    this.accepting = false;
    // Open WebSockets stay; the core asks them to reconnect elsewhere.
    if (this.listenSocket) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  async close(): Promise<void> {
    await this.stopAccepting();
    if (this.closed) return;
    this.closed = true;
    this.reentrant(() => {
      if (this.app.close) this.app.close();
      else for (const socket of [...this.sockets!]) socket.terminate();
    });
    this.logger.debug('uWebSockets.js transport closed');
  }
}
