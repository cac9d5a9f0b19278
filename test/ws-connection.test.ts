/**
 * Connection life: the handshake frame, client pings, server pings of idle clients and the 4201
 * close of a client that never answers them; pusher-js answers server pings and stays connected.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connected, pusherClient, sleep, until } from './helpers/clients.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { RawClient, appUrl, rawConnected } from './helpers/ws-raw.js';
import { track } from './helpers/track.js';
import { record } from './helpers/ws-real.js';

describe('handshake and client pings (default config)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.close();
  });

  test('pusher:connection_established carries a socket id and activity_timeout 120', async (t) => {
    const raw = new RawClient(appUrl(srv.port));
    track(t, raw);
    const f = await raw.next((x) => x.event === 'pusher:connection_established', 'connection_established');
    assert.equal(raw.frames[0]?.event, 'pusher:connection_established', 'it is the first frame');
    assert.equal(typeof f.data, 'string', 'data is a JSON-encoded string, as the protocol requires');
    const data = JSON.parse(f.data as string) as { socket_id: string; activity_timeout: number };
    assert.match(data.socket_id, /^\d+\.\d+$/);
    assert.equal(data.activity_timeout, 120);
  });

  test('pusher-js connects and gets a distinct socket id per connection', async (t) => {
    const a = pusherClient(srv.port);
    const b = pusherClient(srv.port);
    track(t, a);
    track(t, b);
    const [ida, idb] = await Promise.all([connected(a), connected(b)]);
    assert.match(ida, /^\d+\.\d+$/);
    assert.match(idb, /^\d+\.\d+$/);
    assert.notEqual(ida, idb);
  });

  test('a client pusher:ping is answered with pusher:pong (data as sent by clients, object or string)', async (t) => {
    const { raw } = await rawConnected(srv.port);
    track(t, raw);
    raw.send({ event: 'pusher:ping', data: {} });
    await raw.next((x) => x.event === 'pusher:pong', 'pong');
    raw.send({ event: 'pusher:ping', data: '{}' });
    await until(() => raw.frames.filter((x) => x.event === 'pusher:pong').length === 2, 'second pong');
    assert.ok(raw.isOpen);
  });
});

describe('server pings (activityTimeout: 1, pongTimeoutMs: 300)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ activityTimeout: 1, pongTimeoutMs: 300 });
  });
  after(async () => {
    await srv.close();
  });

  test('connection_established announces the configured activity_timeout', async (t) => {
    const { raw } = await rawConnected(srv.port);
    track(t, raw);
    const f = raw.frames[0]!;
    assert.equal((JSON.parse(f.data as string) as { activity_timeout: number }).activity_timeout, 1);
  });

  test('an idle client is pinged; one that never pongs is closed with 4201, one that pongs stays', async (t) => {
    const silent = await rawConnected(srv.port);
    const polite = await rawConnected(srv.port);
    track(t, silent.raw);
    track(t, polite.raw);
    // The polite client answers every server ping, like pusher-js does.
    let answered = 0;
    const answer = setInterval(() => {
      const pings = polite.raw.frames.filter((f) => f.event === 'pusher:ping').length;
      for (; answered < pings; answered++) polite.raw.send({ event: 'pusher:pong', data: {} });
    }, 10);
    try {
      const started = Date.now();
      await silent.raw.next((f) => f.event === 'pusher:ping', 'server ping', 3_000);
      const pingedAfter = Date.now() - started;
      assert.ok(pingedAfter >= 900, `pinged only after activityTimeout (${pingedAfter} ms)`);
      const closed = await silent.raw.waitClosed(3_000);
      assert.equal(closed.code, 4201);
      const err = silent.raw.frames.find((f) => f.event === 'pusher:error');
      assert.ok(err, 'a pusher:error frame precedes the close');
      // The polite client has been pinged too and is still open.
      await until(() => answered >= 1, 'polite client pinged');
      await sleep(400);
      assert.ok(polite.raw.isOpen, 'a client answering pings is not closed');
      await polite.raw.roundTrip();
    } finally {
      clearInterval(answer);
    }
  });

  test('pusher-js answers server pings and stays connected (its own pings slowed down, and unmodified)', async (t) => {
    const patched = pusherClient(srv.port);
    const plain = pusherClient(srv.port);
    track(t, patched);
    track(t, plain);
    const frames = record(patched);
    const [socketId, plainId] = await Promise.all([connected(patched), connected(plain)]);
    // pusher-js pings the server itself after `activity_timeout` of silence, which would hide the
    // server's pings; slow its own check down so only the server pings this one.
    (patched.connection as unknown as { activityTimeout: number }).activityTimeout = 60_000;
    const states: string[] = [];
    patched.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    plain.connection.bind('state_change', (s: { current: string }) => states.push(`plain:${s.current}`));
    await until(() => frames.some((f) => f.event === 'pusher:ping'), 'a server ping', 5_000);
    await sleep(700); // > pongTimeoutMs + a sweep period: a missing pong would have closed the socket by now
    assert.equal(patched.connection.state, 'connected');
    assert.equal(patched.connection.socket_id, socketId, 'never reconnected');
    assert.equal(plain.connection.state, 'connected');
    assert.equal(plain.connection.socket_id, plainId, 'never reconnected');
    assert.deepEqual(states, [], 'no state changes');
  });
});
