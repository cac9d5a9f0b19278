import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UpstreamClient } from './client.js';
import type { Logger } from '../log/logger.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as unknown as Logger;
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('UpstreamClient.open: the body read through the dispatch handler', () => {
  let server: http.Server;
  let origin: string;
  const client = new UpstreamClient({ timeoutMs: 5_000, maxQueued: 10, queueTimeoutMs: 1_000, logger: quiet });
  /** Bytes the server managed to write of /big before the test looked. */
  let bigWritten = 0;

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/small') {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end('hello');
      } else if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const piece = Buffer.alloc(64 * 1024, 'x');
        let n = 0;
        const pump = (): void => {
          while (n < 64) {
            n++;
            bigWritten += piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        };
        // The head first, the body later: its pieces reach a reader already reading.
        res.flushHeaders();
        setTimeout(pump, 50);
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 20);
      } else {
        res.writeHead(200);
        res.write('first');
        // never ends: the test aborts it
      }
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await client.close();
    server.closeAllConnections();
    server.close();
  });

  const open = (path: string, signal = new AbortController().signal) =>
    client.open(origin, { method: 'GET', path, headers: {}, signal });

  it('gives the head, then every piece in order; the slot is free at the end', async () => {
    const res = await open('/small');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
    let text = '';
    await res.read((p) => {
      text += p.toString();
      return undefined;
    });
    assert.equal(text, 'hello');
    assert.equal(client.load(origin).inUse, 0);
  });

  it('reads nothing more from the upstream while a piece is pending', async () => {
    const res = await open('/big');
    let release!: () => void;
    let pieces = 0;
    let bytes = 0;
    const done = res.read((p) => {
      pieces++;
      bytes += p.length;
      return pieces === 1 ? new Promise<void>((r) => (release = r)) : undefined;
    });
    await tick(200);
    assert.equal(pieces, 1);
    assert.ok(bigWritten < 64 * 64 * 1024, `the upstream wrote everything (${bigWritten}) while the reader waited`);
    release();
    await done;
    assert.equal(bytes, 64 * 64 * 1024);
    assert.equal(client.load(origin).inUse, 0);
  });

  it("a reader's error is the read's, and the request is aborted", async () => {
    const res = await open('/big');
    const boom = new Error('boom');
    await assert.rejects(
      res.read(() => {
        throw boom;
      }),
      boom,
    );
    await tick(10);
    assert.equal(client.load(origin).inUse, 0);
  });

  it('a body cut off by the upstream rejects', async () => {
    const res = await open('/cut');
    await assert.rejects(
      res.read(() => undefined),
      (err: Error) => err instanceof Error,
    );
    assert.equal(client.load(origin).inUse, 0);
  });

  it("the signal aborts a body in progress with the signal's reason", async () => {
    const controller = new AbortController();
    const res = await open('/hang', controller.signal);
    const reason = new Error('deadline');
    const done = res.read(() => undefined);
    setTimeout(() => controller.abort(reason), 20);
    await assert.rejects(done, reason);
    assert.equal(client.load(origin).inUse, 0);
  });

  it("an aborted signal refuses before sending, with the signal's reason", async () => {
    const controller = new AbortController();
    const reason = new Error('gone');
    controller.abort(reason);
    await assert.rejects(open('/small', controller.signal), reason);
    assert.equal(client.load(origin).inUse, 0);
  });
});
