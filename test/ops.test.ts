/**
 * Operations endpoints: /health, /ready (503 while draining, on every transport) and /metrics in
 * the Prometheus text format, per app: connections, messages and bytes both ways, API calls by
 * status, webhook outcomes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { connected, pusherClient, serverSdk, until, type PusherClient } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { availableTransports, eventually, sdkRefusal } from './helpers/api-http.js';
import { subscribeAndCollect } from './helpers/api-clients.js';
import { rawWs } from './helpers/api-rawws.js';
import { webhookReceiver, type WebhookReceiver } from './helpers/api-webhooks.js';

/** `name{labels}` → value, from the Prometheus text format (every sample line must parse). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})?) (-?[0-9.]+(?:e[+-]?[0-9]+)?|NaN|\+Inf|-Inf)$/.exec(
        line,
      );
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

async function scrape(srv: TestServer): Promise<Map<string, number>> {
  const res = await fetch(`${srv.httpUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return samples(await res.text());
}

for (const transport of await availableTransports()) {
  describe(`health and readiness over the ${transport} transport`, () => {
    test('/health and /ready answer 200; /ready answers 503 while draining', async () => {
      const srv = await startTestServer({ transport, shutdownGraceMs: 2_000 });
      const probe = net.connect(srv.port, '127.0.0.1');
      await once(probe, 'connect');
      try {
        for (const path of ['/health', '/ready']) {
          const res = await fetch(`${srv.httpUrl}${path}`);
          assert.equal(res.status, 200, path);
          assert.equal(await res.text(), 'OK');
        }
        // Two sockets: the drain asks them to reconnect one slice at a time, so it lasts a while.
        const [w1, w2] = await Promise.all([rawWs(srv.port), rawWs(srv.port)]);
        probe.write('GET /ready HTTP/1.1\r\nHost: x\r\n'); // a request already under way
        let answer = '';
        probe.on('data', (d: Buffer) => (answer += d.toString()));
        const stopped = srv.server.stop('graceful');
        await until(() => w1.closeCode !== null || w2.closeCode !== null, 'first socket asked to reconnect');
        probe.write('\r\n');
        await until(() => /\r\n\r\n(.+)$/s.test(answer), '/ready answered during the drain');
        assert.match(answer, /^HTTP\/1\.1 503 /);
        assert.match(answer, /Draining$/);
        await stopped;
        assert.deepEqual([w1.closeCode, w2.closeCode], [4200, 4200]);
      } finally {
        probe.destroy();
        await srv.close();
      }
    });
  });
}

describe('/metrics', () => {
  let srv: TestServer;
  let rx: WebhookReceiver;
  const clients: PusherClient[] = [];
  before(async () => {
    rx = await webhookReceiver(serverSdk(0), (_path, n) => (n === 0 ? 500 : 200));
    srv = await startTestServer({
      webhooks: { batchMs: 10 },
      apps: [
        testApp({ webhooks: [{ url: rx.url('/hook'), events: ['channel_occupied'] }] }),
        { id: 'other-app', key: 'other-key', secret: 'other-secret' },
      ],
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
    await rx.close();
  });

  test('counts connections, messages, bytes, API calls by status and webhook outcomes, per app', async () => {
    const a = pusherClient(srv.port);
    const b = pusherClient(srv.port);
    clients.push(a, b);
    await Promise.all([connected(a), connected(b)]);
    const other = await rawWs(srv.port, { key: 'other-key' });
    await subscribeAndCollect(a, 'private-metrics');
    const got = await subscribeAndCollect(b, 'private-metrics');
    a.channel('private-metrics').trigger('client-hi', { n: 1 });
    await serverSdk(srv.port).trigger('private-metrics', 'server-hi', { n: 2 });
    await until(() => got.length === 2, 'both events at b');
    await sdkRefusal(serverSdk(srv.port, { secret: 'wrong' }).trigger('private-metrics', 'x', {}), 401);
    await until(() => rx.hooks.length >= 2, 'webhook failed once, then delivered', 5_000);

    const m = await eventually(
      () => scrape(srv),
      (s) => (s.get('wiremesh_webhooks_total{app="app-id",outcome="ok"}') ?? 0) >= 1,
      'webhook ok counted',
    );
    assert.equal(m.get('wiremesh_connections{app="app-id"}'), 2);
    assert.equal(m.get('wiremesh_connections{app="other-app"}'), 1);
    assert.ok(
      (m.get('wiremesh_ws_messages_received_total{app="app-id"}') ?? 0) >= 3,
      'subscribes + client event received',
    );
    assert.ok((m.get('wiremesh_ws_bytes_received_total{app="app-id"}') ?? 0) > 100);
    assert.ok((m.get('wiremesh_ws_messages_sent_total{app="app-id"}') ?? 0) >= 2, 'events sent');
    assert.ok((m.get('wiremesh_ws_bytes_sent_total{app="app-id"}') ?? 0) > 50);
    assert.equal(m.get('wiremesh_http_api_calls_total{app="app-id",endpoint="events",status="200"}'), 1);
    assert.equal(m.get('wiremesh_http_api_calls_total{app="app-id",endpoint="events",status="401"}'), 1);
    assert.equal(m.get('wiremesh_webhooks_total{app="app-id",outcome="failed"}'), 1);
    assert.equal(m.get('wiremesh_webhooks_total{app="app-id",outcome="ok"}'), 1);
    assert.equal(m.get('wiremesh_channels{app="app-id"}'), 1);
    assert.equal(m.get('wiremesh_connections_total{app="other-app"}'), 1);

    // Gauges follow disconnects, down to zero.
    b.disconnect();
    other.destroy();
    const gauges = async (): Promise<{ app: number | undefined; other: number | undefined }> => {
      const s = await scrape(srv);
      return {
        app: s.get('wiremesh_connections{app="app-id"}'),
        other: s.get('wiremesh_connections{app="other-app"}'),
      };
    };
    // An app with no connections left reads 0, not its last value.
    await eventually(gauges, (g) => g.app === 1 && (g.other ?? 0) === 0, 'connection gauges to follow the disconnects');
  });

  test('metrics: false turns /metrics off', async () => {
    const off = await startTestServer({ metrics: false });
    try {
      const res = await fetch(`${off.httpUrl}/metrics`);
      assert.equal(res.status, 404);
      await res.arrayBuffer();
    } finally {
      await off.close();
    }
  });
});
