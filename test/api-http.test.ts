/**
 * HTTP behaviour of the API port on every available transport (`ws` + node:http, and native
 * uWebSockets.js when it loads): many SDK calls over one keep-alive connection, and the request
 * body limit answered with 413 at, and just over, the boundary.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { serverSdk } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { apiRequest, availableTransports, sdkRefusal } from './helpers/api-http.js';

const MAX_BODY = 16 * 1024;

for (const transport of await availableTransports()) {
  describe(`HTTP API over the ${transport} transport`, () => {
    let srv: TestServer;
    before(async () => {
      srv = await startTestServer({
        transport,
        limits: { maxRequestBodyBytes: MAX_BODY },
        apps: [testApp({ maxEventPayloadBytes: MAX_BODY })],
      });
      assert.equal(srv.server.transport, transport);
    });
    after(async () => {
      await srv.close();
    });

    test('keep-alive: SDK calls, a refused one (401, its body discarded unread) included, share one TCP connection', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const sockets = new Set<Socket>();
      agent.on('free', (s: Socket) => sockets.add(s));
      try {
        const sdk = serverSdk(srv.port, { agent });
        const forger = serverSdk(srv.port, { agent, secret: 'wrong' });
        const connectionHeaders: Array<string | null> = [];
        for (let i = 0; i < 3; i++) {
          const res = await sdk.trigger('keepalive', 'e', { i });
          connectionHeaders.push(res.headers.get('connection'));
          await res.text();
        }
        await sdkRefusal(forger.trigger('keepalive', 'e', {}), 401);
        const res = await sdk.get({ path: '/channels' });
        connectionHeaders.push(res.headers.get('connection'));
        await res.text();
        // Queued on the one socket: node-fetch 2 (inside the SDK) fails these with "Premature close"
        // when answers are chunked instead of carrying a Content-Length.
        const parallel = await Promise.all([
          sdk.trigger('keepalive', 'p', 1),
          sdk.trigger('keepalive', 'p', 2),
          sdk.get({ path: '/channels/keepalive' }),
        ]);
        for (const r of parallel) await r.text();
        // HTTP/1.1 is keep-alive unless the server says `Connection: close`.
        for (const h of connectionHeaders) assert.notEqual(h?.toLowerCase(), 'close');
        assert.equal(sockets.size, 1, `expected one TCP connection for 8 requests, saw ${sockets.size}`);
      } finally {
        agent.destroy();
      }
    });

    test('a body of exactly limits.maxRequestBodyBytes is accepted; one byte more is refused with 413', async () => {
      const envelope = JSON.stringify({ name: 'e', channel: 'c', data: '' });
      const exact = JSON.stringify({ name: 'e', channel: 'c', data: 'x'.repeat(MAX_BODY - envelope.length) });
      assert.equal(Buffer.byteLength(exact), MAX_BODY);
      const ok = await apiRequest(srv.port, { method: 'POST', path: '/events', body: exact });
      assert.equal(ok.status, 200, ok.text);
      const over = await apiRequest(srv.port, { method: 'POST', path: '/events', body: exact.replace('"e"', '"ee"') });
      assert.equal(over.status, 413);
      assert.deepEqual(over.json, { error: `Request body is larger than ${MAX_BODY} bytes` });
      assert.equal(over.headers.get('content-type'), 'application/json');
      // Refused from Content-Length, its body unread: that connection is closed (as nginx's 413).
      assert.equal(over.headers.get('connection'), 'close');
      // The SDK sees it too, and a much larger body as well.
      const err = await sdkRefusal(serverSdk(srv.port).trigger('c', 'e', 'y'.repeat(4 * MAX_BODY)), 413);
      assert.match(String(err.body), /Request body is larger than/);
      assert.equal((await serverSdk(srv.port).trigger('c', 'after', 'small')).status, 200);
    });

    test('health endpoints need no signature; API errors are JSON', async () => {
      const health = await fetch(`${srv.httpUrl}/health`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'OK');
      const missing = await apiRequest(srv.port, { method: 'POST', path: '/events', body: '{}', unsigned: true });
      assert.equal(missing.status, 401);
      assert.equal(missing.headers.get('content-type'), 'application/json');
      assert.equal(typeof (missing.json as { error?: unknown }).error, 'string');
    });
  });
}
