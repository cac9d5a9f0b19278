/**
 * Strangers at the mesh port (security review, finding 10), over raw TCP: online guessing is
 * locked out with backoff, pre-auth connections are capped per source and in total, the failure
 * log is one line per episode per source, and a real peer from another address is unaffected.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { freePort } from '../../../test/helpers/server.js';
import { createLogger } from '../../log/logger.js';
import { encodeFrame, FrameReader, FrameType } from './mesh-frames.js';
import { PreAuthGuard, sourceOf } from './mesh-guard.js';
import { decodeHello, encodeHello, newHello, newInstanceId, proof } from './mesh-handshake.js';
import { MeshBackend, type MeshBackendOptions } from './mesh.js';

const SECRET = 'guard-test-secret-of-at-least-32-bytes';

type Line = Record<string, unknown>;
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function node(
  options: Partial<MeshBackendOptions> = {},
): Promise<{ mesh: MeshBackend; port: number; logs: Line[] }> {
  const logs: Line[] = [];
  const logger = createLogger({ level: 'debug', sink: (line) => logs.push(JSON.parse(line) as Line) });
  const port = options.port ?? (await freePort());
  const mesh = new MeshBackend({ port, host: '127.0.0.1', peers: [], secret: SECRET, ...options }, logger);
  await mesh.connect({ message: () => {}, connectionChanged: () => {} });
  closers.push(() => mesh.close());
  return { mesh, port, logs };
}

/** One guess over raw TCP from `localAddress`: 'hello' if the node sent its HELLO (and then refused the AUTH), 'refused' if it closed first. */
async function guess(port: number, localAddress: string, secret: string): Promise<'refused' | 'rejected'> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {}); // a reset shows as the close awaited below
  const reader = new FrameReader(1024);
  let sawHello = false;
  const mine = newHello(newInstanceId());
  socket.write(encodeFrame(FrameType.HELLO, '', encodeHello(mine)));
  socket.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    const f = reader.next();
    if (f?.type === FrameType.HELLO && !sawHello) {
      sawHello = true;
      socket.write(encodeFrame(FrameType.AUTH, '', proof(secret, 'dialer', mine, decodeHello(f.payload))));
    }
  });
  await new Promise((resolve) => socket.once('close', resolve));
  return sawHello ? 'rejected' : 'refused';
}

const warned = (logs: Line[], source: string): Line[] =>
  logs.filter((l) => l.level === 40 && l.source === source && String(l.msg).startsWith('mesh handshake trouble'));

describe('mesh pre-auth guard', () => {
  it('locks out a source that keeps guessing the secret, logs one line per episode, and lets a real peer in', async () => {
    const a = await node({ guard: { episodeIdleMs: 300 } });
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) outcomes.push(await guess(a.port, '127.0.0.2', 'wrong-secret-of-at-least-32-bytes!!'));
    // Three free tries, then the node closes the connection before showing its HELLO (no nonce to work on).
    assert.deepEqual(outcomes.slice(0, 3), ['rejected', 'rejected', 'rejected']);
    assert.ok(
      outcomes.slice(3).every((o) => o === 'refused'),
      outcomes.join(),
    );
    assert.equal(warned(a.logs, '127.0.0.2').length, 1, 'one warning for the whole episode');
    assert.match(String(warned(a.logs, '127.0.0.2')[0]!.reason), /peer failed authentication.*HANDSHAKE_AUTH/);

    // A real peer from another address joins meanwhile.
    const b = await node({ peers: [`127.0.0.1:${a.port}`] });
    await until(
      () => a.mesh.status().peers.length === 1 && b.mesh.status().peers.length === 1,
      'the real peer to connect',
    );

    // The episode ends once the guesses stop: one summary line counting what happened.
    await until(
      () => a.logs.some((l) => l.msg === 'mesh handshake trouble from this address ended'),
      'the episode summary',
      3_000,
    );
    const summary = a.logs.find((l) => l.msg === 'mesh handshake trouble from this address ended')!;
    assert.deepEqual([summary.source, summary.failures, summary.refused], ['127.0.0.2', 3, 9]);
  });

  it('caps pre-auth connections per source and in total; idle strangers do not block a real peer', async () => {
    const a = await node({ guard: { maxPendingPerSource: 4, maxPending: 10, reservedForPeers: 0 } });
    const sockets: net.Socket[] = [];
    closers.push(() => sockets.forEach((s) => s.destroy()));
    const open = (localAddress: string): net.Socket => {
      const s = net.connect({ port: a.port, host: '127.0.0.1', localAddress });
      s.on('error', () => {});
      sockets.push(s);
      return s;
    };
    for (let i = 0; i < 50; i++) open('127.0.0.2');
    for (let i = 0; i < 50; i++) open(`127.0.0.${3 + (i % 5)}`);
    await until(() => sockets.filter((s) => s.destroyed || s.closed).length >= 100 - 10, 'the excess to be closed');
    await sleep(100);
    assert.equal(a.mesh.status().pending, 10);
    assert.ok(sockets.slice(0, 50).filter((s) => !s.closed).length <= 4, 'at most four from 127.0.0.2');
    // One warning per refused source, however many connections it tried.
    const sources = new Set(a.logs.filter((l) => l.level === 40).map((l) => l.source));
    assert.equal(a.logs.filter((l) => l.level === 40).length, sources.size);

    // Once the strangers go, a real peer gets in (the real one would also retry with backoff).
    sockets.forEach((s) => s.destroy());
    await until(() => a.mesh.status().pending === 0, 'the pre-auth slots to free up');
    const b = await node({ peers: [`127.0.0.1:${a.port}`] });
    await until(() => b.mesh.status().peers.length === 1, 'the real peer to connect');
  });

  it('doubles the lockout with each further failure, up to the cap, and forgets it after a success', () => {
    let now = 0;
    const logs: Line[] = [];
    const logger = createLogger({ level: 'debug', sink: (line) => logs.push(JSON.parse(line) as Line) });
    const guard = new PreAuthGuard(
      logger,
      {
        maxPending: 10,
        maxPendingPerSource: 10,
        reservedForPeers: 0,
        helloMs: 1_000,
        freeFailures: 2,
        lockoutBaseMs: 100,
        lockoutMaxMs: 350,
        episodeIdleMs: 1_000,
        maxSources: 2,
      },
      () => now,
    );
    const fail = (): void => {
      assert.equal(guard.admit('s'), true);
      guard.settled('s', false, 'wrong');
    };
    fail(); // free
    assert.equal(guard.admit('s'), true);
    guard.settled('s', true); // forgets it
    fail(); // free
    fail(); // the second: first lockout, 100 ms
    assert.equal(guard.admit('s'), false);
    now += 100;
    fail(); // 200 ms
    now += 199;
    assert.equal(guard.admit('s'), false);
    now += 1;
    fail(); // 400 ms, capped at 350
    now += 349;
    assert.equal(guard.admit('s'), false);
    now += 1;
    assert.equal(guard.admit('s'), true);
    guard.settled('s', true);
    fail(); // forgotten after the success: free again
    assert.equal(guard.admit('s'), true);
    guard.settled('s', true);
    // Version mismatches (and known peers' timeouts) are logged, never locked out.
    for (let i = 0; i < 10; i++) {
      assert.equal(guard.admit('slow'), true);
      guard.settled('slow', false, 'not established within 5000 ms', false);
    }
    assert.equal(guard.admit('slow'), true);
    guard.settled('slow', true);
    // Bounded state: a third source evicts an idle one.
    guard.admit('t');
    guard.admit('u');
    assert.equal(guard.pendingCount, 2);
  });

  it('keeps slots for known peers; an IPv6 source is its /64', () => {
    const logger = createLogger({ level: 'error', sink: () => {} });
    const guard = new PreAuthGuard(logger, {
      maxPending: 4,
      maxPendingPerSource: 4,
      reservedForPeers: 2,
      helloMs: 1_000,
      freeFailures: 3,
      lockoutBaseMs: 1_000,
      lockoutMaxMs: 60_000,
      episodeIdleMs: 30_000,
      maxSources: 100,
    });
    assert.deepEqual(
      ['x', 'y', 'z'].map((s) => guard.admit(s)),
      [true, true, false],
      'strangers get the unreserved slots only',
    );
    assert.equal(guard.admit('peer', true), true);
    assert.equal(guard.admit('peer', true), true);
    assert.equal(guard.admit('peer', true), false, 'all slots taken');
    assert.equal(sourceOf('2001:db8:1:2::a'), sourceOf('2001:db8:1:2:ffff::b'));
    assert.notEqual(sourceOf('2001:db8:1:2::a'), sourceOf('2001:db8:1:3::a'));
    assert.equal(sourceOf('::ffff:10.0.0.7'), '10.0.0.7');
  });
});

describe('mesh pre-auth guard: silent strangers', { timeout: 60_000 }, () => {
  /** A connection that sends nothing; resolves with how long the node kept it open. */
  async function silent(port: number, localAddress: string): Promise<number> {
    const started = performance.now();
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.on('error', () => {});
    s.resume(); // read (and drop) the node's HELLO, so that its close is seen
    closers.push(() => void s.destroy());
    await new Promise((resolve) => s.once('close', resolve));
    return performance.now() - started;
  }

  it('closes a stranger without HELLO within about a second, and locks out a source whose connections keep timing out', async () => {
    const a = await node();
    const first = await silent(a.port, '127.0.0.11');
    assert.ok(first > 800 && first < 2_500, `closed after ${Math.round(first)} ms`);
    for (let i = 0; i < 3; i++) await silent(a.port, '127.0.0.11');
    const locked = await silent(a.port, '127.0.0.11');
    assert.ok(locked < 300, `locked out: closed after ${Math.round(locked)} ms`);
    assert.ok(a.logs.some((l) => l.source === '127.0.0.11' && /no HELLO within 1000 ms/.test(String(l.reason))));
  });

  it('8 sources × 8 silent connections, refilled as they close, do not keep a configured peer from joining', async () => {
    // The peer's address is configured (its port does not matter: incoming connections come
    // from ephemeral ports); `a` does not dial the real peer, which must get in by itself.
    const a = await node({ peers: ['127.0.0.1:1'] });
    let attacking = true;
    let most = 0;
    const hold = async (localAddress: string): Promise<void> => {
      while (attacking) {
        await silent(a.port, localAddress);
        await sleep(20);
      }
    };
    const attack = Array.from({ length: 64 }, (_, i) => hold(`127.0.0.${2 + (i % 8)}`));
    const sampler = setInterval(() => (most = Math.max(most, a.mesh.status().pending)), 10);
    try {
      await until(() => a.mesh.status().pending >= 48, 'the strangers to take their slots');
      const b = await node({ peers: [`127.0.0.1:${a.port}`] });
      await until(() => b.mesh.status().peers.length === 1, 'the real peer to join', 3_000);
      assert.ok(most <= 64, `${most} pre-auth connections at most`);
    } finally {
      attacking = false;
      clearInterval(sampler);
      for (const c of closers.splice(0)) await c();
      await Promise.all(attack);
    }
  });
});
