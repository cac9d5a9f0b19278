/**
 * Protocol errors seen on the wire by raw `ws` clients: refused connections (4001–4008), frames
 * the server cannot understand (4302, connection kept), oversized frames (that socket closed,
 * others unaffected) and graceful shutdown (4200; /ready not ready while draining).
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { serverSdk, until } from './helpers/clients.js';
import { APP, startTestServer, testApp, type TestServer } from './helpers/server.js';
import { RawClient, appUrl, errorData, rawConnected, rawSubscribe } from './helpers/ws-raw.js';
import { track } from './helpers/track.js';

function open(t: TestContext, port: number, path?: string): RawClient {
  return track(t, new RawClient(appUrl(port, path)));
}

/** Connects to `path` and expects a pusher:error with `code` followed by a close with `code`. */
async function refusedWith(t: TestContext, port: number, path: string, code: number): Promise<string> {
  const r = open(t, port, path);
  const closed = await r.waitClosed();
  assert.equal(closed.code, code, `close code for ${path}`);
  const err = r.frames.find((f) => f.event === 'pusher:error');
  assert.ok(err, `a pusher:error frame before the close for ${path}`);
  assert.equal(errorData(err).code, code);
  assert.equal(
    r.frames.some((f) => f.event === 'pusher:connection_established'),
    false,
  );
  return errorData(err).message;
}

describe('refused connections', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      apps: [
        testApp(),
        { id: 'off', key: 'off-key', secret: 'off-secret', enabled: false },
        { id: 'one', key: 'one-key', secret: 'one-secret', maxConnections: 1 },
      ],
    });
  });
  after(async () => {
    await srv.close();
  });

  test('unknown app key: 4001', async (t) => {
    await refusedWith(t, srv.port, '/app/no-such-key?protocol=7', 4001);
  });

  test('malformed percent-encoding in the app key: 4001, and no library message leaks', async (t) => {
    for (const key of ['%E0', '%', 'app-key%E0%A4']) {
      const message = await refusedWith(t, srv.port, `/app/${key}?protocol=7`, 4001);
      assert.equal(message, 'App key not found');
    }
    assert.equal(
      srv.logs.some((l) => /URI malformed|unexpected error/.test(l)),
      false,
    );
    // A well-formed encoding of the key is still the key.
    const ok = open(t, srv.port, `/app/${encodeURIComponent('app-key').replace('-', '%2D')}?protocol=7`);
    await until(() => ok.frames.some((f) => f.event === 'pusher:connection_established'), 'encoded key not accepted');
  });

  test('disabled app: 4003', async (t) => {
    await refusedWith(t, srv.port, '/app/off-key?protocol=7', 4003);
  });

  test('over the connection quota (maxConnections: 1): 4004, and a place frees up on disconnect', async (t) => {
    const first = open(t, srv.port, '/app/one-key?protocol=7');
    await first.established();
    const msg = await refusedWith(t, srv.port, '/app/one-key?protocol=7', 4004);
    assert.match(msg, /quota/);
    // Other apps are not limited by it.
    await open(t, srv.port).established();
    first.close();
    await first.closed;
    let third: RawClient | undefined;
    for (let i = 0; i < 50; i++) {
      third = open(t, srv.port, '/app/one-key?protocol=7');
      const done = await Promise.race([third.established().then(() => 'ok'), third.closed.then(() => 'closed')]);
      if (done === 'ok') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(third?.isOpen, 'a new connection is accepted once the first has gone');
  });

  test('wrong path: 4005', async (t) => {
    await refusedWith(t, srv.port, '/nope?protocol=7', 4005);
    await refusedWith(t, srv.port, `/app/?protocol=7`, 4005);
    await refusedWith(t, srv.port, `/app/${APP.key}/extra?protocol=7`, 4005);
  });

  test('protocol versions: invalid 4006, unsupported 4007, missing 4008', async (t) => {
    await refusedWith(t, srv.port, `/app/${APP.key}?protocol=abc`, 4006);
    await refusedWith(t, srv.port, `/app/${APP.key}?protocol=4`, 4007);
    await refusedWith(t, srv.port, `/app/${APP.key}?protocol=8`, 4007);
    await refusedWith(t, srv.port, `/app/${APP.key}`, 4008);
    await refusedWith(t, srv.port, `/app/${APP.key}?client=js`, 4008);
  });

  test('pusher-js reports the 4001 and gives up', async (t) => {
    const c = new (await import('./helpers/clients.js')).PusherJS('no-such-key', {
      wsHost: '127.0.0.1',
      wsPort: srv.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      cluster: 'mt1',
    });
    track(t, c);
    const errors: unknown[] = [];
    c.connection.bind('error', (e: unknown) => errors.push(e));
    await until(() => c.connection.state === 'failed' || c.connection.state === 'disconnected', 'gave up');
    assert.ok(
      errors.some((e) => (e as { error?: { data?: { code?: number } } }).error?.data?.code === 4001),
      `pusher-js saw the 4001 error: ${JSON.stringify(errors)}`,
    );
  });
});

describe('frames the server cannot understand', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ limits: { maxFrameBytes: 1024 } });
  });
  after(async () => {
    await srv.close();
  });

  const bad: Array<[string, string]> = [
    ['malformed JSON', '{"event": "pusher:ping", '],
    ['a JSON array', '[1,2,3]'],
    ['a JSON string', '"pusher:ping"'],
    ['no event name', '{"data": {}}'],
    ['an unknown pusher: event', '{"event":"pusher:nonsense","data":{}}'],
    ['an unknown pusher_internal: event', '{"event":"pusher_internal:member_added","data":{}}'],
    ['an event that is neither pusher: nor client-', '{"event":"hello","data":{}}'],
    ['subscribe data that is not JSON', '{"event":"pusher:subscribe","data":"{not json"}'],
  ];
  for (const [what, text] of bad) {
    test(`${what}: pusher:error 4302 and the connection stays open`, async (t) => {
      const { raw } = await rawConnected(srv.port);
      track(t, raw);
      raw.send(text);
      const err = await raw.error(4302);
      assert.ok(err.message.length > 0);
      await raw.roundTrip();
      assert.ok(raw.isOpen);
      // Still fully usable.
      await rawSubscribe(raw, 'after-error');
    });
  }

  // Every transport closes with 1009 and logs the client (uWebSockets.js cuts a frame past twice
  // the limit itself: 1006, logged too).
  for (const transport of ['ws', 'uws'] as const) {
    test(`${transport} transport: an oversized frame closes that socket while others keep working`, async (t) => {
      let own: TestServer;
      try {
        own = await startTestServer({ transport, limits: { maxFrameBytes: 1024 } });
      } catch (err) {
        if (transport === 'uws') return t.skip(`uWebSockets.js not available: ${(err as Error).message}`);
        throw err;
      }
      try {
        assert.equal(own.server.transport, transport);
        const { raw: big } = await rawConnected(own.port);
        const { raw: other } = await rawConnected(own.port);
        track(t, big);
        track(t, other);
        await rawSubscribe(other, 'still-working');
        await rawSubscribe(big, 'still-working');
        big.send({ event: 'client-huge', channel: 'still-working', data: 'x'.repeat(1_500) });
        const closed = await big.waitClosed();
        assert.equal(closed.code, 1009);
        const line = own.logs.find((l) => l.includes('exceeded limits.maxFrameBytes'));
        assert.ok(line, 'the oversized frame is logged');
        assert.equal(JSON.parse(line).client, '127.0.0.1');
        if (transport === 'uws') {
          const { raw: huge } = await rawConnected(own.port);
          track(t, huge);
          huge.send({ event: 'client-huge', channel: 'still-working', data: 'x'.repeat(3_000) });
          await huge.waitClosed();
          await until(
            () => own.logs.filter((l) => l.includes('exceeded limits.maxFrameBytes')).length === 2,
            'the cut past twice the limit is logged',
          );
        }
        assert.equal(
          other.frames.some((f) => f.event === 'client-huge'),
          false,
          'the oversized event was not delivered',
        );
        await serverSdk(own.port).trigger('still-working', 'ping', { ok: true });
        const f = await other.next((x) => x.event === 'ping', 'event on the other socket');
        assert.deepEqual(JSON.parse(f.data as string), { ok: true });
        // A frame just under the limit is fine.
        other.send({ event: 'pusher:ping', data: { pad: 'x'.repeat(900) } });
        await other.roundTrip();
        assert.ok(other.isOpen);
        // The server no longer counts the closed socket.
        const info = (await (
          await serverSdk(own.port).get({ path: '/channels/still-working', params: { info: 'subscription_count' } })
        ).json()) as {
          subscription_count: number;
        };
        assert.equal(info.subscription_count, 1);
      } finally {
        await own.close();
      }
    });
  }

  test('binary frames are ignored without closing the connection', async (t) => {
    const { raw } = await rawConnected(srv.port);
    track(t, raw);
    (raw as unknown as { ws: { send(b: Buffer): void } }).ws.send(Buffer.from('{"event":"pusher:ping","data":{}}'));
    await raw.roundTrip();
    assert.equal(raw.frames.filter((f) => f.event === 'pusher:pong').length, 1, 'only the text ping was answered');
  });
});

describe('graceful shutdown', () => {
  test('clients are closed with 4200, /ready is not ready while draining, new sockets are refused', async (t) => {
    const srv = await startTestServer({ shutdownGraceMs: 3_000 });
    try {
      const sockets = await Promise.all([1, 2, 3].map(() => rawConnected(srv.port)));
      for (const s of sockets) track(t, s.raw);
      assert.equal((await fetch(`${srv.httpUrl}/ready`)).status, 200);

      const done = srv.server.stop('graceful');
      // Not ready while draining: the port stays open during the drain and /ready answers 503.
      assert.equal((await fetch(`${srv.httpUrl}/ready`)).status, 503);

      const closes = await Promise.all(sockets.map((s) => s.raw.waitClosed(3_000)));
      assert.deepEqual(
        closes.map((c) => c.code),
        [4200, 4200, 4200],
      );
      for (const s of sockets)
        assert.equal(
          s.raw.frames.some((f) => f.event === 'pusher:error' && errorData(f).code === 4200),
          true,
        );

      // A new WebSocket during the drain is not accepted.
      const late = new RawClient(appUrl(srv.port));
      track(t, late);
      const lateClosed = await late.waitClosed(3_000);
      assert.notEqual(lateClosed.code, 1000);
      assert.equal(
        late.frames.some((f) => f.event === 'pusher:connection_established'),
        false,
      );
      await done;
    } finally {
      await srv.close();
    }
  });
});
