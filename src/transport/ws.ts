/**
 * Portable transport: node:http for the HTTP API and `ws` for WebSockets. Always available.
 * Topics are kept here (topic → sockets). A published frame is framed once (WebSocket header +
 * payload in one Buffer) and that Buffer is written to every recipient's TCP socket; sockets
 * written to are corked until the end of the event-loop turn, so everything a socket gets in one
 * turn (several events, a subscription reply) leaves in one `writev`; a reply to one client is
 * framed here too. Frames `ws` writes itself (pings, closes) go down the same socket stream in
 * call order: with permessage-deflate off its sender never queues.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from '../log/logger.js';
import { frameTooLarge } from './frame-limit.js';
import { declaredTooLong, withDefaultHooks, type HttpHooks } from './http-admission.js';
import { keepYoungGenerationSmall } from './ws-heap.js';
import { listenOptions } from './ws-listen.js';
import {
  NOT_LISTENING,
  SLOW_CLIENT_CLOSE,
  type HttpHead,
  type HttpRequest,
  type HttpResponse,
  type SendResult,
  type SocketHandler,
  type TextFrame,
  type Transport,
  type TransportHooks,
  type TransportOptions,
  type WsSocket,
} from './types.js';

function flatHeaders(raw: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** An unmasked, unfragmented server-to-client text frame: header and payload in one Buffer. */
export function textFrame(payload: string | Buffer): Buffer {
  const length = Buffer.byteLength(payload);
  const out = Buffer.allocUnsafe(headerSize(length) + length);
  const header = writeHeader(out, length);
  if (typeof payload === 'string') out.write(payload, header);
  else payload.copy(out, header);
  return out;
}

function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** Writes the header of a text frame of `length` bytes at the start of `out`; returns its size. */
function writeHeader(out: Buffer, length: number): number {
  const header = headerSize(length);
  out[0] = 0x81; // FIN + opcode 1 (text)
  if (header === 2) {
    out[1] = length;
  } else if (header === 4) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(length), 2);
  }
  return header;
}

/** The header of a text frame whose payload is `parts`, to be written before them. */
function headerFor(parts: readonly Buffer[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = Buffer.allocUnsafe(headerSize(length));
  writeHeader(out, length);
  return out;
}

const NOTHING = Buffer.alloc(0);

/** Within one event-loop turn a socket may queue this many times `maxBufferedBytes` before the turn's check. */
const BURST_FACTOR = 2;

/**
 * The `ws` socket with a slot for its client: the listeners below are shared by every socket
 * (`this` is the socket) instead of three closures and their context per connection.
 */
class ClientWebSocket extends WebSocket {
  client: WsClient | null = null;
}

function onWsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  if (isBinary) return; // the Pusher protocol is text only
  (this as ClientWebSocket).client?.handler?.onMessage(data.toString());
}

function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
  const ws = this as ClientWebSocket;
  const client = ws.client;
  ws.client = null;
  client?.closed(code, reason.toString());
}

class WsClient implements WsSocket {
  /** Topics joined: none, one, or (from the second on) a Set (most clients join one channel). */
  private topics: string | Set<string> | null = null;
  handler: SocketHandler | null = null;
  /**
   * Frames held back while the socket is backed up (the kernel did not take everything written
   * to it): one array slot each, the published Buffer shared with the other recipients, instead
   * of a buffered write request per frame in the stream's queue (~56 B of heap each, promoted to
   * the old generation while the client catches up: the bulk of a join storm's memory). Written
   * as one Buffer once everything before them has gone to the kernel, in order.
   */
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  private onFlushed: (() => void) | null = null;
  constructor(
    private readonly ws: ClientWebSocket,
    readonly raw: Socket,
    private readonly transport: WsTransport,
    readonly remoteAddress: string,
  ) {}

  send(frame: TextFrame): SendResult {
    if (typeof frame === 'string' || Buffer.isBuffer(frame)) return this.sendFramed(textFrame(frame));
    if (this.ws.readyState !== 1) return 'closed';
    const header = headerFor(frame);
    if (this.backedUp()) {
      this.hold(header);
      for (const p of frame) this.hold(p);
    } else {
      // One frame from pieces, written as they are (the socket is corked: one `writev`).
      this.transport.corkForTurn(this);
      this.raw.write(header);
      for (const p of frame) this.raw.write(p);
    }
    return this.checkBuffered(BURST_FACTOR);
  }

  /** A frame already framed by `textFrame` (publish: one Buffer shared by every recipient). */
  sendFramed(framed: Buffer): SendResult {
    if (this.ws.readyState !== 1) return 'closed';
    if (this.backedUp()) this.hold(framed);
    else {
      this.transport.corkForTurn(this);
      this.raw.write(framed);
    }
    return this.checkBuffered(BURST_FACTOR);
  }

  private backedUp(): boolean {
    return this.held !== null || this.raw.writableNeedDrain;
  }

  /** Adds to what is held (the caller checks the limit once per frame). */
  private hold(framed: Buffer): void {
    if (this.held === null) this.startHolding();
    this.held!.push(framed);
    this.heldBytes += framed.length;
  }

  /**
   * From now on frames are held. An empty write marks the end of what is queued: its callback
   * runs once every byte before it has gone to the kernel, and sends what was held by then.
   */
  private startHolding(): void {
    this.held = [];
    this.onFlushed ??= () => this.release();
    this.raw.write(NOTHING, this.onFlushed);
  }

  /** What was held goes out as one write; if the kernel does not take it all, holding goes on. */
  private release(): void {
    const held = this.takeHeld();
    if (held === null || held.length === 0 || this.ws.readyState !== 1) return;
    this.raw.write(held.length === 1 ? held[0]! : Buffer.concat(held));
    if (this.raw.writableLength > 0) this.startHolding();
  }

  /** Stops holding: returns what was held (null if nothing). A marker still queued then finds nothing to send. */
  private takeHeld(): Buffer[] | null {
    const held = this.held;
    if (held === null) return null;
    this.held = null;
    this.heldBytes = 0;
    return held;
  }

  /**
   * Sends what this turn corked. What the kernel did not take waits in Node's queue: the next
   * frames are held. A client still holding more than the limit is not reading.
   */
  flushTurn(): void {
    this.raw.uncork();
    if (this.ws.readyState !== 1) return;
    if (this.held === null && this.raw.writableLength > 0) this.startHolding();
    this.checkBuffered(1);
  }

  /**
   * Closes the client (4100) when more than `factor` × `maxBufferedBytes` waits for it. While the
   * socket is corked, this turn's frames count too: only a burst beyond the factor closes it then;
   * the real check runs once they have been handed to the kernel (`flushTurn`).
   */
  private checkBuffered(factor: number): SendResult {
    if (this.bufferedAmount() > this.transport.options.maxBufferedBytes * factor) {
      this.close(SLOW_CLIENT_CLOSE.code, SLOW_CLIENT_CLOSE.reason);
      return 'closed';
    }
    return 'sent';
  }

  close(code: number, reason: string): void {
    // In order before the close frame; a client that is not reading gets the close alone.
    if (code === SLOW_CLIENT_CLOSE.code) this.takeHeld();
    else this.release();
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code, reason);
    // A client that never completes the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), 2_000).unref();
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount + this.heldBytes;
  }

  subscribe(topic: string): void {
    const t = this.topics;
    if (t === null) this.topics = topic;
    else if (typeof t === 'string') {
      if (t === topic) return;
      this.topics = new Set([t, topic]);
    } else {
      if (t.has(topic)) return;
      t.add(topic);
    }
    this.transport.addToTopic(topic, this);
  }

  unsubscribe(topic: string): void {
    const t = this.topics;
    if (t === null) return;
    if (typeof t === 'string') {
      if (t !== topic) return;
      this.topics = null;
    } else if (!t.delete(topic)) return;
    this.transport.removeFromTopic(topic, this);
  }

  /** The socket closed: leaves every topic, then tells the core. */
  closed(code: number, reason: string): void {
    const t = this.topics;
    this.topics = null;
    if (typeof t === 'string') this.transport.removeFromTopic(t, this);
    else if (t !== null) for (const topic of t) this.transport.removeFromTopic(topic, this);
    this.transport.forgetClient(this);
    this.handler?.onClose(code, reason);
    this.handler = null;
  }
}

export class WsTransport implements Transport {
  readonly name = 'ws' as const;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly topics = new Map<string, Set<WsClient>>();
  /** HTTP connections (and sockets being upgraded); an upgraded socket moves to `clients`. */
  private readonly sockets = new Set<Socket>();
  private readonly clients = new Set<WsClient>();
  /** Sockets that have not sent a complete request head yet, and when they are cut off. */
  private readonly deadlines = new Map<Socket, NodeJS.Timeout>();
  private accepting = true;
  private hooks: TransportHooks = NOT_LISTENING;
  /** The HTTP ones of `hooks`, with their defaults. */
  private http: HttpHooks;
  /** Clients whose socket was corked during this event-loop turn, uncorked together at its end. */
  private corked: WsClient[] = [];
  private readonly uncorkAll = (): void => {
    const clients = this.corked;
    this.corked = [];
    for (const c of clients) c.flushTurn();
  };

  constructor(
    readonly options: TransportOptions,
    private readonly logger: Logger,
  ) {
    this.http = withDefaultHooks(NOT_LISTENING, options);
    const firstRequestMs = options.gate?.firstRequestMs ?? 0;
    this.server = http.createServer(
      {
        keepAliveTimeout: 65_000,
        requestTimeout: 30_000,
        // A later request on a kept-alive connection has as long for its head as the first one.
        ...(firstRequestMs > 0
          ? { headersTimeout: Math.min(firstRequestMs, 30_000), connectionsCheckingInterval: 1_000 }
          : {}),
      },
      (req, res) => {
        this.onRequest(req, res);
      },
    );
    this.server.on('connection', (s: Socket) => this.onConnection(s));
    this.server.on('clientError', (err, socket) => {
      logger.debug('http client error', { err });
      // Destroyed, not half-closed: a client that never reads the answer must not keep the descriptor.
      if (socket.writable && (err as { code?: string }).code !== 'ERR_HTTP_REQUEST_TIMEOUT')
        socket.write('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      socket.destroy();
    });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      WebSocket: ClientWebSocket,
    });
    keepYoungGenerationSmall();
    this.server.on('upgrade', (req, socket, head) => {
      this.requestHeadArrived(socket as Socket);
      if (!this.accepting) {
        // Destroyed once written, not left half-closed for a client that never closes its side.
        socket.once('finish', () => socket.destroy());
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      // A shared listener: a closure created here would share this scope's context with the
      // callback below, and so keep the upgrade request alive as long as the socket lives.
      socket.on('error', this.onUpgradeSocketError);
      // Corked through the handshake: the 101 answer and what the core sends on open
      // (connection_established) leave in one `writev` at the end of this turn, one TCP segment
      // for the client to read instead of two (as uWebSockets.js does). `onOpen` hands the cork
      // to the turn's uncork; a refused handshake ends the socket, which uncorks it.
      socket.cork();
      let opened = false;
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        opened = true;
        this.onOpen(ws as ClientWebSocket, req, socket as Socket);
      });
      if (!opened && socket.writableCorked > 0) socket.uncork();
    });
  }

  /**
   * Every accepted socket is counted by the gate before anything is parsed (refused: destroyed at
   * once), and destroyed if no request head arrives within `firstRequestMs`.
   */
  private onConnection(s: Socket): void {
    const gate = this.options.gate;
    if (gate !== undefined) {
      const address = s.remoteAddress ?? '';
      s.once('close', () => {
        gate.release(address);
        this.requestHeadArrived(s);
      });
      if (!gate.accept(address)) {
        s.destroy();
        return;
      }
      if (gate.firstRequestMs > 0) {
        const deadline = setTimeout(() => s.destroy(), gate.firstRequestMs);
        deadline.unref();
        this.deadlines.set(s, deadline);
      }
    }
    this.sockets.add(s);
    s.on('close', this.forgetSocket);
  }

  /** The socket's first request head is in (or it closed): its deadline goes. */
  private requestHeadArrived(s: Socket): void {
    const deadline = this.deadlines.get(s);
    if (deadline === undefined) return;
    clearTimeout(deadline);
    this.deadlines.delete(s);
  }

  /** The client, as the proxies tell it (the TCP peer unless that is a trusted proxy). */
  private clientOf(req: http.IncomingMessage, headers: Record<string, string>): string {
    const peer = req.socket.remoteAddress ?? '';
    const proxies = this.options.proxies;
    return proxies === undefined || proxies.size === 0 ? peer : proxies.clientOf(peer, headers);
  }

  /** One shared close listener (`this` is the socket), not a closure per connection. */
  private readonly forgetSocket = ((sockets: Set<Socket>) =>
    function (this: Socket): void {
      sockets.delete(this);
    })(this.sockets);
  private readonly onUpgradeSocketError = (err: Error): void =>
    this.logger.debug('socket error during upgrade', { err });
  /** ws closes a socket with 1009 itself when a frame exceeds `maxPayload`; it is logged here. */
  private onWsError(err: Error & { code?: string }, remoteAddress: string): void {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
      frameTooLarge(this.logger, remoteAddress, undefined, this.options.maxFrameBytes);
    else this.logger.debug('websocket error', { err, client: remoteAddress });
  }

  /** Corks the client's socket until the end of this event-loop turn (once per turn). */
  corkForTurn(client: WsClient): void {
    if (client.raw.writableCorked > 0) return;
    client.raw.cork();
    this.uncorkAtEndOfTurn(client);
  }

  private uncorkAtEndOfTurn(client: WsClient): void {
    if (this.corked.push(client) === 1) setImmediate(this.uncorkAll);
  }

  private onOpen(ws: ClientWebSocket, req: http.IncomingMessage, raw: Socket): void {
    const { path, query } = splitUrl(req.url ?? '/');
    const headers = flatHeaders(req.headers);
    const remoteAddress = this.clientOf(req, headers);
    const client = new WsClient(ws, raw, this, remoteAddress);
    if (raw.writableCorked > 0) this.uncorkAtEndOfTurn(client); // corked by the 'upgrade' listener
    // From here on `ws` listens to the socket's errors and its close: the upgrade's listeners go,
    // so each of those events has one listener (a second one makes the emitter keep an array).
    raw.off('error', this.onUpgradeSocketError);
    raw.off('close', this.forgetSocket);
    this.sockets.delete(raw);
    this.clients.add(client);
    const info = { path, query, headers, remoteAddress };
    ws.client = client;
    ws.on('error', (err: Error & { code?: string }) => this.onWsError(err, remoteAddress));
    ws.on('message', onWsMessage);
    ws.on('close', onWsClose);
    client.handler = this.hooks.openSocket(client, info);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requestHeadArrived(req.socket);
    const { path, query } = splitUrl(req.url ?? '/');
    if (!this.accepting) res.setHeader('Connection', 'close');
    const headers = flatHeaders(req.headers);
    const head: HttpHead = {
      method: req.method ?? 'GET',
      path,
      query,
      headers,
      remoteAddress: this.clientOf(req, headers),
    };
    const hooks = this.http;
    const max = hooks.bodyLimit(head);
    const tooLarge = (): HttpResponse => hooks.bodyTooLarge(head);
    if (declaredTooLong(headers, max)) {
      // Refused from Content-Length, before one byte of the body is read; the connection is closed.
      this.cut(req, res, tooLarge());
      return;
    }
    // Decided from the head alone (unknown app, bad signature): such a body is never kept.
    const refusal = hooks.admitHttp(head);
    const chunks: Buffer[] = [];
    let size = 0;
    let cut = false;
    req.on('data', (chunk: Buffer) => {
      if (cut) return;
      size += chunk.length;
      if (size > max) {
        // Counted while read (chunked, or a false length): cut at the limit, without waiting for the end.
        cut = true;
        chunks.length = 0;
        this.cut(req, res, refusal ?? tooLarge());
        return;
      }
      if (refusal === null) chunks.push(chunk);
    });
    req.on('error', (err) => this.logger.debug('http request error', { err }));
    req.on('end', () => {
      if (cut) return;
      if (refusal !== null) {
        this.answer(res, refusal);
        return;
      }
      const request: HttpRequest = { ...head, body: Buffer.concat(chunks, size) };
      hooks.handleHttp(request).then(
        (out) => this.answer(res, out),
        (err: unknown) => {
          this.logger.error('http handler failed', { err });
          this.answer(res, {
            status: 500,
            headers: { 'content-type': 'application/json' },
            body: '{"error":"Internal server error"}',
          });
        },
      );
    });
  }

  private answer(res: http.ServerResponse, out: HttpResponse): void {
    // An explicit length: writeHead() fixes the headers, and without one Node sends every answer
    // chunked, which node-fetch 2 (the `pusher` SDK) misreads as "Premature close" on a reused socket.
    res.writeHead(out.status, { ...out.headers, 'content-length': Buffer.byteLength(out.body) });
    res.end(out.body);
  }

  /** Answers without reading (more of) the body, then closes the connection once the answer is out. */
  private cut(req: http.IncomingMessage, res: http.ServerResponse, out: HttpResponse): void {
    req.pause();
    res.shouldKeepAlive = false;
    res.setHeader('Connection', 'close');
    res.on('finish', () => req.socket.destroy());
    this.answer(res, out);
  }

  /** The client's socket closed. */
  forgetClient(client: WsClient): void {
    this.clients.delete(client);
  }

  addToTopic(topic: string, client: WsClient): void {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    set.add(client);
  }

  removeFromTopic(topic: string, client: WsClient): void {
    const set = this.topics.get(topic);
    if (!set) return;
    set.delete(client);
    if (set.size === 0) this.topics.delete(topic);
  }

  publish(topic: string, frame: string, except?: WsSocket): number {
    const set = this.topics.get(topic);
    if (!set) return 0;
    const framed = textFrame(frame);
    let n = 0;
    for (const c of set) {
      if (c === except) continue;
      if (c.sendFramed(framed) === 'sent') n++;
    }
    return n;
  }

  topicSize(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  async listen(hooks: TransportHooks): Promise<number> {
    this.hooks = hooks;
    this.http = withDefaultHooks(hooks, this.options);
    this.server.listen(listenOptions(this.options.port, this.options.host, this.options.sharedPort === true));
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  async stopAccepting(): Promise<void> {
    this.accepting = false;
    // Stop listening; open WebSockets are left to the core, which asks them to reconnect.
    this.server.close((err) => {
      if (err) this.logger.debug('http server close', { err });
    });
    this.server.closeIdleConnections();
  }

  async close(): Promise<void> {
    this.accepting = false;
    for (const s of this.sockets) s.destroy();
    for (const c of this.clients) c.raw.destroy();
    for (const deadline of this.deadlines.values()) clearTimeout(deadline);
    this.deadlines.clear();
    this.server.closeAllConnections();
    if (this.server.listening) {
      this.server.close();
      await once(this.server, 'close');
    }
  }
}
