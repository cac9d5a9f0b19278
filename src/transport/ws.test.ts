/**
 * What only the portable transport does: how many writes reach the kernel per connection (the
 * shared suite in transport.test.ts checks behaviour, which is the same for both transports).
 */
import { afterEach, beforeEach, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Fixture, until } from './transport.test.helper.js';
import { WsTransport } from './ws.js';

type WriteGeneric = (this: net.Socket, writev: boolean, data: unknown, encoding: string, cb: unknown) => unknown;
const proto = net.Socket.prototype as unknown as { _writeGeneric: WriteGeneric };
const original = proto._writeGeneric;

let fx: Fixture;
/** Writes to the kernel by the server's sockets: one entry per write or writev, with its chunk count. */
let writes: number[];

beforeEach(async () => {
  fx = await Fixture.start((options, logger) => new WsTransport(options, logger));
  writes = [];
  const port = fx.port;
  proto._writeGeneric = function (writev, data, encoding, cb) {
    if (this.localPort === port) writes.push(writev ? (data as unknown[]).length : 1);
    return original.call(this, writev, data, encoding, cb);
  };
});

afterEach(async () => {
  proto._writeGeneric = original;
  await fx.close();
});

it('writes the 101 answer and what openSocket sends as one writev', async () => {
  const c = await fx.connect('/hello');
  await until(() => c.received.length === 1, 'the frame sent on open');
  assert.deepEqual(c.received, [{ text: '{"event":"hello"}', isBinary: false }]);
  assert.deepEqual(writes, [2], 'one writev of two chunks: the 101 answer, then the frame');
});

it('answers a refused handshake (400, no cork left behind) and serves the next connection', async () => {
  const raw = net.connect(fx.port, '127.0.0.1');
  raw.write('GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  let text = '';
  raw.on('data', (d: Buffer) => (text += d.toString()));
  await until(() => text.includes('\r\n\r\n'), 'an answer');
  assert.match(text, /^HTTP\/1\.1 400 /);
  raw.destroy();
  const c = await fx.connect();
  c.server.socket.send('{"event":"x"}');
  await until(() => c.received.length === 1, 'a frame after the refused handshake');
});
