/**
 * One suite for every Transport: the portable `ws` transport always, the native uWebSockets.js
 * transport when its binary loads here (otherwise its cases are reported skipped, with the reason).
 * Real `ws` and node:http clients on port 0.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../log/logger.js';
import {
  Fixture,
  OPTIONS,
  refusedConnect,
  request,
  until,
  type Client,
  type MakeTransport,
} from './transport.test.helper.js';
import type { SendResult } from './types.js';
import { loadUws, UwsTransport } from './uws.js';
import { WsTransport } from './ws.js';

const nullLogger = createLogger({ level: 'silent' });

const implementations: { name: 'ws' | 'uws'; load(): Promise<MakeTransport> }[] = [
  { name: 'ws', load: async () => (options, logger) => new WsTransport(options, logger) },
  {
    name: 'uws',
    load: async () => {
      const uws = await loadUws();
      return (options, logger) => new UwsTransport(uws, options, logger);
    },
  },
];

function pause(c: Client): Socket {
  const socket = (c.ws as unknown as { _socket: Socket })._socket;
  socket.pause();
  return socket;
}

function texts(c: Client): string[] {
  return c.received.map((m) => m.text);
}

/** Every case runs against `make`, or is reported skipped with `skip` as the reason. */
function suite(name: 'ws' | 'uws', loaded: MakeTransport | undefined, skip: string | false): void {
  const make: MakeTransport = loaded ?? (() => assert.fail('unavailable'));
  const test = (title: string, fn: () => Promise<void>): void => {
    it(title, { skip }, fn);
  };
  let fx: Fixture;
  beforeEach(async () => {
    if (!skip) fx = await Fixture.start(make);
  });
  afterEach(async () => {
    if (!skip) await fx.close();
  });

  test('opens a socket on any path with the upgrade info, and hands it text messages', async () => {
    const c = await fx.connect('/app/some-key');
    assert.equal(c.server.info.path, '/app/some-key');
    assert.match(c.server.info.query, /^protocol=7&id=c\d+$/);
    assert.equal(c.server.info.headers['sec-websocket-version'], '13');
    assert.equal(c.server.info.remoteAddress, '127.0.0.1');
    assert.equal(c.server.socket.remoteAddress, '127.0.0.1');
    c.ws.send(Buffer.from('binary is ignored'), { binary: true });
    c.ws.send('{"event":"pusher:ping"}');
    c.ws.send('é ✓');
    await until(() => c.server.messages.length === 2, 'two text messages');
    assert.deepEqual(c.server.messages, ['{"event":"pusher:ping"}', 'é ✓']);

    const other = await fx.connect('/anything/else');
    assert.equal(other.server.info.path, '/anything/else');
  });

  test('reports an IPv4 client of a dual-stack listener as ::ffff:a.b.c.d, as node:net does', async () => {
    const dual = await Fixture.start(make, { host: '::' });
    try {
      const c = await dual.connect();
      assert.equal(c.server.socket.remoteAddress, '::ffff:127.0.0.1');
      assert.equal(c.server.info.remoteAddress, '::ffff:127.0.0.1');
      const r = await request(dual.port);
      assert.equal((JSON.parse(r.body) as { remoteAddress: string }).remoteAddress, '::ffff:127.0.0.1');
    } finally {
      await dual.close();
    }
  });

  test('sends text frames', async () => {
    const c = await fx.connect();
    assert.equal(c.server.socket.send('{"event":"x"}'), 'sent');
    await until(() => c.received.length === 1, 'frame');
    assert.deepEqual(c.received, [{ text: '{"event":"x"}', isBinary: false }]);
  });

  test('publishes to the subscribers of a topic, never to `except`, and counts recipients', async () => {
    const [a, b, c] = [await fx.connect(), await fx.connect(), await fx.connect()];
    a.server.socket.subscribe('app-1:news');
    b.server.socket.subscribe('app-1:news');
    assert.equal(fx.transport.topicSize('app-1:news'), 2);
    assert.equal(fx.transport.publish('app-1:news', 'one'), 2);
    assert.equal(fx.transport.publish('app-1:news', 'two', a.server.socket), 1);
    assert.equal(
      fx.transport.publish('app-1:news', 'three', c.server.socket),
      2,
      'an except that is not subscribed changes nothing',
    );
    await until(() => texts(a).length === 2 && texts(b).length === 3, 'deliveries');
    assert.deepEqual(texts(a), ['one', 'three']);
    assert.deepEqual(texts(b), ['one', 'two', 'three']);
    assert.deepEqual(texts(c), []);
    assert.equal(fx.transport.topicSize('nobody'), 0);
    assert.equal(fx.transport.publish('nobody', 'x'), 0);
  });

  test('publishes frames of every length encoding intact, multi-byte text included, in order', async () => {
    const a = await fx.connect();
    a.server.socket.subscribe('sizes');
    // 7-bit, 16-bit and 64-bit payload lengths and their edges (in bytes: 'é' is two), one per
    // turn (the test transport's buffer limit is 64 KiB); then several small ones in one turn.
    const large = [0, 1, 125, 126, 127, 65_535, 65_536].map((n, i) => (n === 0 ? '' : `${i}`.padEnd(n, 'x')));
    large.push('é'.repeat(63), 'é'.repeat(32_768));
    for (const f of large) {
      assert.equal(fx.transport.publish('sizes', f), 1, `${f.length} chars`);
      await sleep(5);
    }
    const small = ['s1', 's2', 's3'];
    for (const f of small) assert.equal(fx.transport.publish('sizes', f), 1);
    a.server.socket.send('direct, after them');
    const all = [...large, ...small, 'direct, after them'];
    await until(() => texts(a).length === all.length, 'all frames', 10_000);
    assert.deepEqual(texts(a), all);
  });

  test('treats topic names literally (no wildcards in #, +, /)', async () => {
    const a = await fx.connect();
    a.server.socket.subscribe('app-1:#server-to-user-1');
    for (const topic of ['app-1:#server-to-user-2', 'app-1:#', 'app-1:+', '#', 'app-1:#server-to-user-1/x']) {
      assert.equal(fx.transport.publish(topic, topic), 0, topic);
    }
    assert.equal(fx.transport.publish('app-1:#server-to-user-1', 'mine'), 1);
    await until(() => texts(a).length === 1, 'delivery');
    await sleep(20);
    assert.deepEqual(texts(a), ['mine']);
  });

  test('subscribes once per topic and unsubscribes', async () => {
    const [a, b] = [await fx.connect(), await fx.connect()];
    a.server.socket.subscribe('t');
    a.server.socket.subscribe('t');
    b.server.socket.subscribe('t');
    assert.equal(fx.transport.topicSize('t'), 2);
    a.server.socket.unsubscribe('t');
    a.server.socket.unsubscribe('t');
    a.server.socket.unsubscribe('never-subscribed');
    assert.equal(fx.transport.topicSize('t'), 1);
    assert.equal(fx.transport.publish('t', 'after'), 1);
    await until(() => texts(b).length === 1, 'b got it');
    assert.deepEqual(texts(a), []);
  });

  test('closes with the given code and reason, tells the core afterwards, and is inert once closed', async () => {
    const c = await fx.connect();
    c.server.socket.subscribe('t');
    c.server.socket.close(4009, 'Unauthorized: bad signature');
    assert.equal(c.server.closed, null, 'onClose is never called from inside close()');
    assert.deepEqual(await c.closed, { code: 4009, reason: 'Unauthorized: bad signature' });
    await until(() => c.server.closed !== null, 'server onClose');
    const seen = c.server.closed as { code: number } | null;
    assert.equal(seen?.code, 4009);
    assert.equal(fx.transport.topicSize('t'), 0);
    // Every call on a closed socket is safe.
    assert.equal(c.server.socket.send('late'), 'closed');
    c.server.socket.subscribe('t');
    c.server.socket.unsubscribe('t');
    c.server.socket.close(1000, 'again');
    assert.equal(typeof c.server.socket.bufferedAmount(), 'number');
    assert.equal(fx.transport.topicSize('t'), 0);
    assert.equal(fx.transport.publish('t', 'x', c.server.socket), 0);
  });

  test('tells the handler about a close made from inside openSocket', async () => {
    const c = await fx.connect('/refuse');
    assert.deepEqual(await c.closed, { code: 4001, reason: 'App not found' });
    await until(() => c.server.closed !== null, 'server onClose');
    assert.equal(c.server.closed?.code, 4001);
  });

  test('reports a close by the client with its code and reason', async () => {
    const c = await fx.connect();
    c.server.socket.subscribe('t');
    c.ws.close(4321, 'bye');
    await until(() => c.server.closed !== null, 'server onClose');
    assert.deepEqual(c.server.closed, { code: 4321, reason: 'bye' });
    assert.equal(fx.transport.topicSize('t'), 0);
  });

  test('closes a socket that sends a frame over maxFrameBytes', async () => {
    const c = await fx.connect();
    c.ws.send('a'.repeat(OPTIONS.maxFrameBytes));
    await until(() => c.server.messages.length === 1, 'a frame of exactly the limit');
    c.ws.send('b'.repeat(OPTIONS.maxFrameBytes + 1));
    const { code } = await c.closed;
    // ws answers 1009; uWS cuts the connection without a close frame.
    if (name === 'ws') assert.equal(code, 1009);
    else assert.ok(code === 1009 || code === 1006, `closed with ${code}`);
    await until(() => c.server.closed !== null, 'server onClose');
    assert.equal(c.server.messages.length, 1);
  });

  test('closes a subscriber that stops reading once it is over maxBufferedBytes, and keeps serving the others', async () => {
    const [fast, slow] = [await fx.connect(), await fx.connect()];
    fast.server.socket.subscribe('flood');
    slow.server.socket.subscribe('flood');
    const socket = pause(slow);
    const frame = 'x'.repeat(16 * 1024);
    let published = 0;
    // Bounded: at most 64 MiB, in steps small enough for the reading client to keep up.
    for (let i = 0; i < 4096 && slow.server.closed === null; i++) {
      const n = fx.transport.publish('flood', frame);
      published++;
      if (n < 2) break; // ws: the slow socket is closing and no longer counted
      if (i % 4 === 3) await sleep(1);
    }
    await until(() => slow.server.closed !== null, 'slow consumer closed', 10_000);
    assert.equal(fx.transport.topicSize('flood'), 1);
    assert.equal(fx.transport.publish('flood', 'marker'), 1);
    await until(() => texts(fast).at(-1) === 'marker', 'the reading client is still served', 10_000);
    assert.equal(fast.received.length, published + 1, 'the reading client lost nothing');
    assert.equal(fast.server.closed, null);
    socket.resume();
    const { code } = await slow.closed;
    assert.ok(code === 4100 || code === 1006, `closed with ${code}`);
    const late = await fx.connect();
    assert.equal(late.server.socket.send('welcome'), 'sent');
    await until(() => late.received.length === 1, 'a new client is served');
  });

  test('send() to a client that stops reading returns closed once over maxBufferedBytes', async () => {
    const slow = await fx.connect();
    const socket = pause(slow);
    const frame = 'y'.repeat(16 * 1024);
    let result: SendResult = 'sent';
    for (let i = 0; i < 4096 && result === 'sent'; i++) {
      result = slow.server.socket.send(frame);
      if (i % 64 === 63) await sleep(1);
    }
    assert.equal(result, 'closed');
    assert.equal(slow.server.socket.send('more'), 'closed');
    await until(() => slow.server.closed !== null, 'server onClose', 10_000);
    socket.resume();
    const { code, reason } = await slow.closed;
    // Usually the close frame still fits (4100 with its reason); when the kernel buffers were
    // already full the transport cuts the connection instead (1006). Either way it is closed.
    assert.ok(code === 4100 || code === 1006, `closed with ${code}`);
    if (code === 4100) assert.equal(reason, 'Over capacity: client is not reading fast enough');
  });

  test('answers HTTP with the request as sent, body read in full', async () => {
    const body = JSON.stringify({ name: 'my-event', channel: 'news', data: 'd'.repeat(1500) });
    const r = await request(fx.port, {
      method: 'POST',
      path: '/apps/1/events?auth_key=k&body_md5=x%20y',
      body: [body.slice(0, 700), body.slice(700)],
      headers: { 'content-type': 'application/json', 'x-dup': 'a' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-echo'], 'yes');
    assert.equal(r.headers['content-type'], 'application/json');
    // A length, never chunked: node-fetch 2 (the `pusher` SDK) misreads chunked answers on reused sockets.
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(r.body)));
    assert.equal(r.headers['transfer-encoding'], undefined);
    const echo = JSON.parse(r.body) as Record<string, unknown> & { headers: Record<string, string> };
    assert.equal(echo.method, 'POST');
    assert.equal(echo.path, '/apps/1/events');
    assert.equal(echo.query, 'auth_key=k&body_md5=x%20y');
    assert.equal(echo.headers['content-type'], 'application/json');
    assert.equal(echo.headers['x-dup'], 'a');
    assert.equal(echo.remoteAddress, '127.0.0.1');
    assert.equal(echo.body, body);

    const created = await request(fx.port, { path: '/created' });
    assert.equal(created.status, 201);
    assert.equal((JSON.parse(created.body) as { body: string; query: string }).body, '');
    assert.equal((JSON.parse(created.body) as { query: string }).query, '');
  });

  test('answers 413 over maxRequestBodyBytes, closes that connection (its body unread), serves the next', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const max = OPTIONS.maxRequestBodyBytes;
      const big = await request(fx.port, { method: 'POST', path: '/apps/1/events', body: 'a'.repeat(max + 1), agent });
      assert.equal(big.status, 413);
      assert.equal(big.headers['content-type'], 'application/json');
      assert.equal(big.headers.connection, 'close');
      assert.deepEqual(JSON.parse(big.body), { error: `Request body is larger than ${max} bytes` });
      const exact = await request(fx.port, { method: 'POST', path: '/apps/1/events', body: 'a'.repeat(max), agent });
      assert.equal(exact.status, 200);
      const again = await request(fx.port, { method: 'POST', path: '/apps/1/events', body: 'a'.repeat(max), agent });
      assert.equal(again.reusedSocket, true);
      assert.equal(again.localPort, exact.localPort);
    } finally {
      agent.destroy();
    }
  });

  test('keeps HTTP connections alive between requests', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await request(fx.port, { path: '/apps/1/channels', agent });
      const second = await request(fx.port, { path: '/apps/1/channels', agent });
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      assert.equal(first.reusedSocket, false);
      assert.equal(second.reusedSocket, true);
      assert.equal(second.localPort, first.localPort);
    } finally {
      agent.destroy();
    }
  });

  test('answers 400 to an upgrade that is not a valid WebSocket handshake', async () => {
    const r = await request(fx.port, { path: '/app/key', headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    assert.equal(r.status, 400);
    assert.equal(fx.sockets.length, 0);
  });

  test('answers 500 when the HTTP handler fails, and logs it', async () => {
    const r = await request(fx.port, { path: '/fail' });
    assert.equal(r.status, 500);
    assert.deepEqual(JSON.parse(r.body), { error: 'Internal server error' });
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(r.body)));
    assert.equal(fx.errors.length, 1);
    assert.match(fx.errors[0]!, /http handler failed/);
  });

  test('refuses a second transport on a port in use', async () => {
    const other = make({ ...OPTIONS, port: fx.port }, nullLogger);
    await assert.rejects(other.listen({ openSocket: () => assert.fail(), handleHttp: () => assert.fail() }));
    await other.close();
  });

  test('stopAccepting() refuses new connections while open sockets keep working', async () => {
    const a = await fx.connect();
    a.server.socket.subscribe('t');
    await fx.transport.stopAccepting();
    const err = (await refusedConnect(fx.port)) as NodeJS.ErrnoException;
    assert.equal(err.code, 'ECONNREFUSED');
    await assert.rejects(request(fx.port), { code: 'ECONNREFUSED' });
    assert.equal(fx.transport.publish('t', 'still here'), 1);
    a.ws.send('and back');
    await until(() => texts(a).includes('still here') && a.server.messages.includes('and back'), 'open socket works');
  });

  test('close() closes every socket and lets the process exit', async () => {
    const [a, b] = [await fx.connect(), await fx.connect()];
    a.server.socket.subscribe('t');
    await fx.transport.close();
    await Promise.all([a.closed, b.closed]);
    await until(() => a.server.closed !== null && b.server.closed !== null, 'server onClose for both');
    assert.equal(fx.transport.topicSize('t'), 0);
    const err = (await refusedConnect(fx.port)) as NodeJS.ErrnoException;
    assert.equal(err.code, 'ECONNREFUSED');
    // afterEach closes again: close() is idempotent. The test run finishing proves nothing is left open.
  });
}

for (const impl of implementations) {
  let make: MakeTransport | undefined;
  let skip: string | false = false;
  try {
    make = await impl.load();
  } catch (err) {
    skip = `${impl.name} transport unavailable here: ${err instanceof Error ? err.message : String(err)}`;
  }
  describe(`Transport: ${impl.name}`, () => suite(impl.name, make, skip));
}
