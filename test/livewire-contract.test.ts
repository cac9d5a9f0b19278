/**
 * The tunnel protocol's contract between the browser client (client/src/protocol.ts) and the
 * server (src/protocol/frames.ts builds, src/livewire/request.ts reads): frames built by one side
 * are read by the other with every field intact, the event names and limits agree, and the
 * fallback codes are the same set (checked by the compiler). docs/livewire-protocol.md describes both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from '../client/src/protocol.js';
import type { Connection } from '../src/core/connection.js';
import { LivewireTunnel } from '../src/livewire/tunnel.js';
import { MAX_ID_LENGTH, readId, readRequest } from '../src/livewire/request.js';
import { createLogger } from '../src/log/logger.js';
import * as frames from '../src/protocol/frames.js';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameCodes: Same<frames.FallbackCode, (typeof client.FALLBACK_CODES)[number]> = true;

/** A frame as pusher-js hands it to the client: the parsed Pusher envelope. */
const received = (frame: string): unknown => JSON.parse(frame) as unknown;

test('server frames read by the client: every field intact, and final frames recognised', () => {
  assert.equal(sameCodes, true);
  const response: frames.TunnelResponse = {
    id: 'r1',
    status: 419,
    statusText: 'Page Expired',
    headers: [
      ['content-type', 'text/html'],
      ['vary', 'a'],
      ['vary', 'b'],
    ],
    url: 'https://app.test/livewire/update',
    redirected: true,
    body: 'é😀',
    done: false,
    setCookies: ['laravel_session'],
  };
  const r = client.parseServerFrame(received(frames.tunnelResponse(response)));
  assert.deepEqual(r, { type: 'response', frame: response });
  assert.equal(client.isFinalFrame(received(frames.tunnelResponse(response))), false);
  assert.equal(client.frameId(received(frames.tunnelResponse(response))), 'r1');

  for (const chunk of [
    { id: 'r1', chunk: 'x', done: false },
    { id: 'r1', chunk: '', done: true },
    { id: 'r1', chunk: '', done: true, error: 'Tunnel error' },
  ]) {
    assert.deepEqual(client.parseServerFrame(received(frames.tunnelChunk(chunk))), { type: 'chunk', frame: chunk });
    assert.equal(client.isFinalFrame(received(frames.tunnelChunk(chunk))), chunk.done);
  }
  for (const code of client.FALLBACK_CODES) {
    const f = { id: 'r2', reason: 'why', code };
    assert.deepEqual(client.parseServerFrame(received(frames.tunnelFallback(f))), { type: 'fallback', frame: f });
    assert.equal(client.isFinalFrame(received(frames.tunnelFallback(f))), true);
  }
  assert.equal(JSON.parse(frames.tunnelResponse(response)).event, client.TunnelEvents.response);
  assert.equal(JSON.parse(frames.tunnelChunk({ id: 'x', chunk: '', done: true })).event, client.TunnelEvents.chunk);
  assert.equal(
    JSON.parse(frames.tunnelFallback({ id: 'x', reason: '', code: 'busy' })).event,
    client.TunnelEvents.fallback,
  );
});

test('client frames read by the server: a request keeps method, path, headers and body; the id limit agrees', () => {
  assert.equal(client.MAX_ID_LENGTH, MAX_ID_LENGTH);
  const body = JSON.stringify({ _token: 't', components: [] });
  const frame = client.requestFrame('a'.repeat(client.MAX_ID_LENGTH), {
    method: 'POST',
    path: '/livewire/update?x=1',
    headers: {
      'content-type': 'application/json',
      'x-livewire': '',
      'x-csrf-token': 't',
      accept: 'text/html, application/xhtml+xml',
    },
    body,
  });
  const wire = JSON.parse(JSON.stringify(frame)) as unknown;
  const { id, fields } = readId(wire, client.TunnelEvents.request);
  const req = readRequest(id, fields);
  assert.equal(req.id, frame.id);
  assert.equal(req.method, 'POST');
  assert.equal(req.path, frame.path);
  assert.deepEqual(req.headers, frame.headers);
  assert.equal(req.body, body);
  assert.throws(() => readId({ id: 'a'.repeat(client.MAX_ID_LENGTH + 1) }, client.TunnelEvents.request));
  assert.equal(readId(JSON.parse(JSON.stringify(client.abortFrame('z'))), client.TunnelEvents.abort).id, 'z');
});

test("the server's tunnel handles exactly the client's event names", () => {
  const sent: string[] = [];
  const tunnel = new LivewireTunnel({
    apps: [],
    upstreams: { of: () => undefined },
    sessions: { offer: () => ({ token: '', sync: false, reason: '', path: '' }), forget: () => {} },
    limits: {
      maxFrameBytes: 1 << 20,
      maxBufferedBytes: 1 << 20,
      maxTunnelBufferedBytes: 0,
      maxTunnelBufferedBytesPerIp: 0,
    },
    metrics: { requests: { inc: () => {} }, fallbacks: { inc: () => {} }, latency: { observe: () => {} } },
    logger: createLogger({ level: 'silent' }),
  });
  const conn = {
    app: { id: 'a' },
    socketId: '1.2',
    handshake: undefined,
    socket: { send: (f: string) => (sent.push(f), 'sent') },
  } as unknown as Connection;
  tunnel.handle(
    conn,
    client.TunnelEvents.request,
    client.requestFrame('q', { method: 'POST', path: '/livewire/update', headers: {}, body: '' }),
  );
  assert.deepEqual(client.parseServerFrame(received(sent[0]!)), {
    type: 'fallback',
    frame: { id: 'q', reason: 'The Livewire tunnel is not enabled for this app', code: 'disabled' },
  });
  tunnel.handle(conn, client.TunnelEvents.abort, client.abortFrame('q'));
  assert.throws(() => tunnel.handle(conn, 'wiremesh:other', { id: 'q' }), /Unknown event/);
});
