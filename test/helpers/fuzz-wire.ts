/**
 * WebSocket on a bare TCP socket, for the fuzz and backpressure tests (its frame codec also serves
 * api-rawws.ts): the upgrade written by hand, client frames built byte by byte (so they can be
 * wrong in every way a library refuses to be: unmasked, reserved bits, bad opcodes, lying
 * lengths, fragments, oversized control frames), and the server's frames parsed as they arrive. The socket can be paused to play a client that
 * stopped reading, or destroyed in the middle of a frame.
 */
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface FrameOptions {
  opcode: number;
  fin?: boolean;
  /** RSV1..3 bits (0–7); anything but 0 is a protocol error without extensions. */
  rsv?: number;
  /** Clients must mask; `false` builds the protocol error of an unmasked client frame. */
  mask?: boolean;
  /** Length written in the header instead of the real one (a lie, to truncate or overrun). */
  declaredLength?: number;
  /** Use the 64-bit length form even for small payloads (legal, if unusual). */
  wideLength?: boolean;
}

/** One client frame, exactly as specified (defaults: FIN, no RSV, masked, true length). */
export function encodeFrame(payload: Buffer, o: FrameOptions): Buffer {
  const len = o.declaredLength ?? payload.length;
  const mask = o.mask !== false;
  let head: Buffer;
  const b0 = ((o.fin === false ? 0 : 1) << 7) | (((o.rsv ?? 0) & 7) << 4) | (o.opcode & 0x0f);
  const m = mask ? 0x80 : 0;
  if (len < 126 && !o.wideLength) head = Buffer.from([b0, m | len]);
  else if (len < 0x10000 && !o.wideLength) {
    head = Buffer.from([b0, m | 126, 0, 0]);
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.from([b0, m | 127, 0, 0, 0, 0, 0, 0, 0, 0]);
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  const key = Buffer.allocUnsafe(4);
  key.writeUInt32BE(Math.floor(Math.random() * 2 ** 32)); // a mask need not be cryptographic here
  const body = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([head, key, body]);
}

/** The first whole server frame in `buf` (unmasked), and what follows it; null until one is complete. */
export function decodeFrame(buf: Buffer): { opcode: number; payload: Buffer; rest: Buffer } | null {
  if (buf.length < 2) return null;
  let len = buf[1]! & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  if (buf.length < offset + len) return null;
  return { opcode: buf[0]! & 0x0f, payload: buf.subarray(offset, offset + len), rest: buf.subarray(offset + len) };
}

export function textFrame(text: string | Buffer): Buffer {
  return encodeFrame(typeof text === 'string' ? Buffer.from(text) : text, { opcode: OP.TEXT });
}

export function upgradeRequest(port: number, path: string, extraHeaders = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`
  );
}

export const APP_PATH = (key: string): string => `/app/${key}?protocol=7&client=fuzz&version=1.0`;

/** A WebSocket client that is only a TCP socket and a frame parser. */
export class WireClient {
  /** HTTP status of the upgrade answer (101 when upgraded), once it arrived. */
  status: number | null = null;
  /** Close code from the server's close frame (1005 if it had none). */
  closeCode: number | null = null;
  closeReason = '';
  /** True once the TCP connection is gone. */
  ended = false;
  /** Text frames received after the upgrade. */
  textCount = 0;
  /** Binary frames received (the Pusher protocol never sends any). */
  binaryCount = 0;
  /** From `pusher:connection_established`. */
  socketId: string | null = null;
  /** Called with every text frame from the server. */
  onText: (text: string) => void = () => undefined;
  private buf: Buffer = Buffer.alloc(0);
  private upgraded = false;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => undefined); // the server may cut a fuzzing client off at any time
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('data', (d: Buffer) => this.receive(d));
  }

  /** Connects and writes `request` (an upgrade, by default to the app path). Does not wait for the answer. */
  static async connect(port: number, request: string | Buffer): Promise<WireClient> {
    const socket = net.connect(port, '127.0.0.1');
    const client = new WireClient(socket);
    await Promise.race([once(socket, 'connect'), once(socket, 'close')]);
    if (!client.ended) socket.write(request);
    return client;
  }

  /** Connects, upgrades to `path` and waits for `pusher:connection_established` (null if refused). */
  static async open(port: number, path: string, timeoutMs = 3_000): Promise<WireClient> {
    const c = await WireClient.connect(port, upgradeRequest(port, path));
    await c.until(() => c.socketId !== null || c.ended || (c.status !== null && c.status !== 101), timeoutMs);
    return c;
  }

  /** Writes raw bytes; waits for `drain` when the kernel buffer is full (or the socket is gone). */
  async write(data: Buffer | string): Promise<void> {
    if (this.ended || this.socket.destroyed) return;
    if (this.socket.write(data)) return;
    await this.until(() => this.socket.writableLength === 0, 2_000, 'drain');
  }

  sendText(text: string | Buffer): Promise<void> {
    return this.write(textFrame(text));
  }

  /** Resolves once `pred` holds, the connection ended, or the time is up; returns `pred()`. */
  async until(pred: () => boolean, timeoutMs: number, event?: 'drain'): Promise<boolean> {
    if (pred() || this.ended) return pred();
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    this.waiters.add(wake);
    if (event) this.socket.once(event, wake);
    const timer = setTimeout(wake, timeoutMs);
    const check = setInterval(() => (pred() ? wake() : undefined), 5);
    try {
      await woken;
    } finally {
      clearTimeout(timer);
      clearInterval(check);
      this.waiters.delete(wake);
      if (event) this.socket.off(event, wake);
    }
    return pred();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  private receive(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > 64 * 1024) this.buf = Buffer.alloc(0);
        return;
      }
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(this.buf.subarray(0, 16).toString('latin1'));
      this.status = m ? Number(m[1]) : 0;
      if (this.status !== 101) {
        this.buf = Buffer.alloc(0);
        this.wake();
        return;
      }
      this.upgraded = true;
      this.buf = this.buf.subarray(end + 4);
    }
    this.parseFrames();
    this.wake();
  }

  private parseFrames(): void {
    for (let f = decodeFrame(this.buf); f; f = decodeFrame(this.buf)) {
      const { opcode, payload } = f;
      this.buf = f.rest;
      if (opcode === OP.TEXT) this.text(payload.toString('utf8'));
      else if (opcode === OP.BINARY) this.binaryCount++;
      else if (opcode === OP.CLOSE) this.closed(payload);
      else if (opcode === OP.PING && !this.socket.destroyed)
        this.socket.write(encodeFrame(Buffer.from(payload), { opcode: OP.PONG }));
    }
  }

  private text(text: string): void {
    this.textCount++;
    if (this.socketId === null && text.includes('pusher:connection_established')) {
      try {
        const frame = JSON.parse(text) as { data: string };
        this.socketId = (JSON.parse(frame.data) as { socket_id: string }).socket_id;
      } catch {
        this.socketId = ''; // established, but not in a form this client understands
      }
    }
    this.onText(text);
  }

  private closed(payload: Buffer): void {
    if (this.closeCode !== null) return;
    this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    this.closeReason = payload.subarray(2).toString('utf8');
    // Answer the close handshake, as a client should, then let the server end the connection.
    if (!this.socket.destroyed) this.socket.end(encodeFrame(Buffer.from(payload.subarray(0, 2)), { opcode: OP.CLOSE }));
  }
}
