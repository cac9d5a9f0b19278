/**
 * Security bounds of the HTTP API port (src/http/, docs/security.md "Limits and their defaults"),
 * on every available transport: each test runs the abuse through real sockets and checks, at the
 * same time, that a normal client (the `pusher` SDK) is still served.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import WebSocket from 'ws';
import { serverSdk } from './helpers/clients.js';
import { APP, freePort, startTestServer, type TestServer } from './helpers/server.js';
import { apiRequest, availableTransports, signedQuery } from './helpers/api-http.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const MAX_BODY = 64 * 1024;

/**
 * Array-buffer bytes still held after garbage collection. V8 frees backing stores after a GC, not
 * during it, so one reading right after gc() can still count buffers already dropped (seen: +7 MB
 * on a busy machine, 0 ms later). The smallest of a few readings is what is really kept.
 */
async function keptArrayBuffers(): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 5; i++) {
    gc();
    least = Math.min(least, process.memoryUsage().arrayBuffers);
    await new Promise((r) => setTimeout(r, 20));
  }
  return least;
}

/** Log lines (JSON) with this message. */
function logLines(srv: TestServer, msg: string): Array<Record<string, unknown>> {
  return srv.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
}

async function metricsText(srv: TestServer): Promise<string> {
  return (await fetch(`${srv.httpUrl}/metrics`)).text();
}

/** Sends raw bytes; resolves with what the server answered until it closed or `ms` passed. */
async function rawExchange(
  port: number,
  write: (s: net.Socket) => void,
  ms: number,
): Promise<{ text: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => {}); // a reset after the answer is expected; `closed` reports it
  const ended = once(socket, 'close').then(() => (closed = true));
  write(socket);
  await Promise.race([ended, new Promise((r) => setTimeout(r, ms))]);
  socket.destroy();
  return { text, closed };
}

function signedPath(body: string, appId: string = APP.id): string {
  return `/apps/${appId}/events?${signedQuery({ method: 'POST', path: '/events', body, appId })}`;
}

for (const transport of await availableTransports()) {
  describe(`HTTP API security bounds over the ${transport} transport`, () => {
    let srv: TestServer;
    before(async () => {
      srv = await startTestServer({
        transport,
        limits: { maxRequestBodyBytes: MAX_BODY },
        apps: [{ ...APP, maxEventPayloadBytes: 16 * 1024 }],
      });
    });
    after(() => srv.close());

    test('unknown app ids are one `unknown` metric series, answered 404, logged once for the address', async () => {
      const sdk = serverSdk(srv.port);
      const before = (await metricsText(srv)).length;
      const ids = Array.from({ length: 1500 }, () => randomBytes(400).toString('hex'));
      let served = 0;
      for (let i = 0; i < ids.length; i += 50) {
        const batch = ids
          .slice(i, i + 50)
          .map((id) => fetch(`${srv.httpUrl}/apps/${id}/events`, { method: 'POST' }).then((r) => r.status));
        const [statuses] = await Promise.all([
          Promise.all(batch),
          sdk.trigger('still-served', 'e', { i }).then((r) => (served += r.status === 200 ? 1 : 0)),
        ]);
        assert.ok(
          statuses.every((s) => s === 404),
          `statuses ${[...new Set(statuses)].join(',')}`,
        );
      }
      assert.equal(served, 30, 'the SDK client was served throughout');
      const text = await metricsText(srv);
      // Old code: one series per id (≈ 1 500 × 800 bytes of label text). Now one series.
      assert.ok(text.length - before < 4_000, `/metrics grew by ${text.length - before} bytes`);
      assert.match(text, /wiremesh_http_api_calls_total\{app="unknown",endpoint="events",status="404"\} 1500/);
      assert.match(text, /wiremesh_http_refusals_total\{reason="unknown_app"\} 1500/);
      assert.ok(!text.includes(ids[0]!.slice(0, 40)), 'a made-up app id reached the metrics');
      const refused = logLines(srv, 'http request refused').filter((l) => l.reason === 'unknown_app');
      assert.equal(refused.length, 1, 'one warning per episode for the address');
      assert.equal(refused[0]!.client, '127.0.0.1');
      assert.equal(refused[0]!.level, 40);
    });

    test('a Content-Length over the limit is answered 413 before any of the body is sent, and that connection closed', async () => {
      const body = '{}';
      const head = `POST ${signedPath(body)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000000\r\n\r\n`;
      const res = await rawExchange(srv.port, (s) => s.write(head), 3_000);
      // Old code waited for the 200 MB to arrive (no answer within the 3 s).
      assert.match(res.text, /^HTTP\/1\.1 413 /);
      assert.match(res.text, /Request body is larger than 65536 bytes/);
      assert.equal(res.closed, true, 'the connection is closed after the 413');
      assert.equal((await serverSdk(srv.port).trigger('c', 'after-413', {})).status, 200);
    });

    test('a chunked body is counted while it arrives and cut at the limit (413 before it ends)', async () => {
      const body = 'x';
      const head = `POST ${signedPath(body)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
      const chunk = 16 * 1024;
      let sent = 0;
      const res = await rawExchange(
        srv.port,
        (s) => {
          s.write(head);
          // Never the final 0-chunk: the old code read to the end and so never answered.
          const timer = setInterval(() => {
            if (s.destroyed || sent > 40 * MAX_BODY) return clearInterval(timer);
            s.write(`${chunk.toString(16)}\r\n${'a'.repeat(chunk)}\r\n`);
            sent += chunk;
          }, 2);
          s.on('close', () => clearInterval(timer));
        },
        4_000,
      );
      assert.match(res.text, /^HTTP\/1\.1 413 /);
      assert.equal(res.closed, true);
      assert.ok(sent < 20 * MAX_BODY, `the server read ${sent} bytes before cutting (limit ${MAX_BODY})`);
    });

    test('bodies of requests that are not signed by the app are not kept in memory (many stalled uploads)', async () => {
      const sockets: net.Socket[] = [];
      const flushed: Promise<void>[] = [];
      const n = 120;
      const perSocket = MAX_BODY - 1024;
      const unsigned = '/apps/app-id/events?auth_key=app-key&auth_timestamp=1&auth_signature=00';
      const base = await keptArrayBuffers();
      try {
        for (let i = 0; i < n; i++) {
          const s = net.connect(srv.port, '127.0.0.1');
          s.on('error', () => {}); // closed by the server or by finally
          sockets.push(s);
          const path = i % 2 === 0 ? unsigned : `/apps/${randomBytes(8).toString('hex')}/events`;
          // Content-Length one KiB more than sent: the request stalls with its body almost complete.
          s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${perSocket + 1024}\r\n\r\n`);
          // The write's callback: the bytes left this process (the client's own buffers are in the
          // same heap as the server's, so they must be gone before anything is measured).
          flushed.push(new Promise<void>((resolve) => s.write(Buffer.alloc(perSocket, 0x61), () => resolve())));
        }
        await Promise.all(flushed);
        await new Promise((r) => setTimeout(r, 600));
        // A normal publisher is served while the uploads stall.
        assert.equal((await serverSdk(srv.port).trigger('c', 'during-uploads', {})).status, 200);
        const grown = (await keptArrayBuffers()) - base;
        // Old code kept every body: n × perSocket ≈ 7.5 MB. Discarded bodies keep nothing.
        assert.ok(
          grown < (n * perSocket) / 4,
          `array buffers grew by ${(grown / 1e6).toFixed(1)} MB for ${((n * perSocket) / 1e6).toFixed(1)} MB sent`,
        );
      } finally {
        for (const s of sockets) s.destroy();
      }
    });

    test('canonical queries only: duplicate names, auth_version other than 1.0 and hex timestamps are refused', async () => {
      const body = JSON.stringify({ name: 'e', channels: ['c'], data: '{}' });
      const send = (query: string) =>
        fetch(`${srv.httpUrl}/apps/${APP.id}/events?${query}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
      const ok = await send(signedQuery({ method: 'POST', path: '/events', body }));
      assert.equal(ok.status, 200);
      const dup = await send(`${signedQuery({ method: 'POST', path: '/events', body })}&auth_key=other`);
      assert.equal(dup.status, 400);
      assert.match(await dup.text(), /auth_key.{0,2} is given more than once/);
      const version = await send(
        signedQuery({ method: 'POST', path: '/events', body, params: { auth_version: '9.9' } }),
      );
      assert.equal(version.status, 401);
      assert.match(await version.text(), /auth_version must be 1\.0/);
      const hex = `0x${Math.floor(Date.now() / 1000).toString(16)}`;
      const hexed = await send(signedQuery({ method: 'POST', path: '/events', body, params: { auth_timestamp: hex } }));
      assert.equal(hexed.status, 401);
      assert.match(await hexed.text(), /decimal/);
      const proto = await send(
        `${signedQuery({ method: 'POST', path: '/events', body, params: { constructor: 'x' } })}`,
      );
      assert.equal(proto.status, 200, 'a parameter named constructor is a signed parameter like any other');
    });

    test('a body whose signature is right but body_md5 wrong is refused after reading, with 401', async () => {
      const body = JSON.stringify({ name: 'e', channels: ['c'], data: '{}' });
      const res = await apiRequest(srv.port, {
        method: 'POST',
        path: '/events',
        body,
        bodyMd5: createHash('md5').update('other').digest('hex'),
      });
      assert.equal(res.status, 401);
    });
  });
}

describe('metric labels fed by clients', () => {
  test('close codes a client picks are one `other` series; Pusher and standard codes stay', async () => {
    const srv = await startTestServer();
    try {
      for (const code of [3000, 3777, 4999, 4300, 1000]) {
        const ws = new WebSocket(`${srv.wsUrl}/app/${APP.key}?protocol=7`);
        await once(ws, 'message');
        ws.close(code);
        await once(ws, 'close');
      }
      await new Promise((r) => setTimeout(r, 100));
      const text = await (await fetch(`${srv.httpUrl}/metrics`)).text();
      const series = text.split('\n').filter((l) => l.startsWith('wiremesh_disconnections_total{'));
      for (const code of ['3000', '3777', '4999', '4300'])
        assert.ok(!text.includes(`code="${code}"`), series.join('\n'));
      assert.match(text, /wiremesh_disconnections_total\{app="app-id",code="other"\} \d/, series.join('\n'));
      assert.match(text, /wiremesh_disconnections_total\{app="app-id",code="1000"\} 1/);
    } finally {
      await srv.close();
    }
  });
});

describe('/metrics access', () => {
  test('with metricsToken, /metrics needs the bearer token (401 without, counted and logged)', async () => {
    const token = randomBytes(24).toString('hex');
    const srv = await startTestServer({ metricsToken: token });
    try {
      const none = await fetch(`${srv.httpUrl}/metrics`);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="metrics"');
      const wrong = await fetch(`${srv.httpUrl}/metrics`, {
        headers: { authorization: `Bearer ${token.replace(/.$/, 'x')}` },
      });
      assert.equal(wrong.status, 401);
      const right = await fetch(`${srv.httpUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(right.status, 200);
      const text = await right.text();
      assert.match(text, /wiremesh_http_refusals_total\{reason="unauthorized"\} 2/);
      assert.equal(logLines(srv, 'http request refused').length, 1);
    } finally {
      await srv.close();
    }
  });

  test('with metricsPort, /metrics is served only on its own listener', async () => {
    const metricsPort = await freePort();
    const srv = await startTestServer({ metricsPort, metricsHost: '127.0.0.1' });
    try {
      assert.equal((await fetch(`${srv.httpUrl}/metrics`)).status, 404);
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /# TYPE wiremesh_connections gauge/);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/apps/app-id/channels`)).status, 404);
      assert.equal((await fetch(`${srv.httpUrl}/health`)).status, 200);
    } finally {
      await srv.close();
    }
  });
});
