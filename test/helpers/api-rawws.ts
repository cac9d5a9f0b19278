/**
 * A bare WebSocket client over a TCP socket: it does the upgrade, records the server's text
 * frames and close code, and — unlike any library — can refuse to answer the close handshake,
 * as a stuck client would. Server frames are unmasked, which keeps the parser tiny.
 */
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { APP } from './server.js';
import { decodeFrame, encodeFrame, OP } from './fuzz-wire.js';

export interface RawWs {
  texts: string[];
  /** The close code the server sent, once it did. */
  closeCode: number | null;
  /** True once the TCP connection is gone. */
  ended: boolean;
  sendText(text: string): void;
  destroy(): void;
}

export async function rawWs(port: number, opts: { key?: string; answerClose?: boolean } = {}): Promise<RawWs> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    `GET /app/${opts.key ?? APP.key}?protocol=7&client=raw&version=1 HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const ws: RawWs = {
    texts: [],
    closeCode: null,
    ended: false,
    sendText: (text) => socket.write(encodeFrame(Buffer.from(text), { opcode: OP.TEXT })),
    destroy: () => socket.destroy(),
  };
  let buf: Buffer = Buffer.alloc(0);
  let upgraded = false;
  let opened: (err?: Error) => void = () => undefined;
  const open = new Promise<void>((resolve, reject) => (opened = (err) => (err ? reject(err) : resolve())));
  socket.on('error', () => undefined); // the server may cut a stuck client off
  socket.on('close', () => {
    ws.ended = true;
    opened(new Error('connection closed before the upgrade'));
  });
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!buf.subarray(0, 12).toString().includes('101')) {
        opened(new Error(`upgrade refused: ${buf.toString()}`));
        socket.destroy();
        return;
      }
      upgraded = true;
      buf = buf.subarray(end + 4);
      opened();
    }
    for (let f = decodeFrame(buf); f; f = decodeFrame(buf)) {
      const { opcode, payload } = f;
      buf = f.rest;
      if (opcode === OP.TEXT) ws.texts.push(payload.toString('utf8'));
      else if (opcode === OP.CLOSE) {
        ws.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (opts.answerClose !== false) socket.end(encodeFrame(payload.subarray(0, 2), { opcode: OP.CLOSE }));
      } else if (opcode === OP.PING) socket.write(encodeFrame(payload, { opcode: OP.PONG }));
    }
  });
  await open;
  return ws;
}

/** The socket id from the `pusher:connection_established` frame. */
export function rawSocketId(ws: RawWs): string {
  const first = JSON.parse(ws.texts[0] ?? '{}') as { event?: string; data?: string };
  if (first.event !== 'pusher:connection_established' || !first.data)
    throw new Error(`no connection_established yet: ${ws.texts[0]}`);
  return (JSON.parse(first.data) as { socket_id: string }).socket_id;
}
