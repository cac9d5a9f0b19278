/**
 * What only the mesh backend does (the shared contract suite in backend.test.ts covers the rest):
 * authentication, recognising itself, one connection per pair, DNS peers, oversized frames and
 * backpressure. Misbehaving peers are played by `RawPeer`, which speaks the wire format by hand.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { freePort } from '../../../test/helpers/server.js';
import { createLogger } from '../../log/logger.js';
import { MAX_FRAME_BYTES } from './mesh-connection.js';
import { encodeFrame, FrameReader, FrameType, type Frame } from './mesh-frames.js';
import { decodeHello, encodeHello, newHello, proof, verifyProof, type Hello } from './mesh-handshake.js';
import { MeshBackend, type MeshBackendOptions } from './mesh.js';
import type { BackendHandler } from './types.js';

const SECRET = 'mesh-test-secret-of-at-least-32-bytes';

class Recorder implements BackendHandler {
  readonly messages: Array<{ subject: string; payload: Buffer }> = [];
  readonly changes: boolean[] = [];
  message(subject: string, payload: Buffer): void {
    this.messages.push({ subject, payload });
  }
  connectionChanged(up: boolean): void {
    this.changes.push(up);
  }
  peerGone?(peer: string): void;
}

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

interface Node {
  mesh: MeshBackend;
  rec: Recorder;
  logs: Array<Record<string, unknown>>;
  logged(msg: string): number;
}

const nodes: Node[] = [];
const raws: RawPeer[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.socket.destroy();
  await Promise.all(nodes.splice(0).map((n) => n.mesh.close()));
});

async function node(options: Partial<MeshBackendOptions> & { port: number }): Promise<Node> {
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    sink: (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
  });
  const mesh = new MeshBackend({ host: '127.0.0.1', peers: [], secret: SECRET, ...options }, logger);
  const rec = new Recorder();
  await mesh.connect(rec);
  const n = { mesh, rec, logs, logged: (msg: string) => logs.filter((l) => JSON.stringify(l).includes(msg)).length };
  nodes.push(n);
  return n;
}

/** Subscribes `to` and publishes from `from` until a message gets through. */
async function live(from: Node, to: Node, subject: string): Promise<void> {
  to.mesh.subscribe(subject);
  await until(() => {
    from.mesh.publish(subject, Buffer.from('probe'));
    return to.rec.messages.some((m) => m.subject === subject);
  }, `${subject} to go live`);
  await sleep(50);
  to.rec.messages.splice(0);
}

/** A peer played by hand over a raw socket: handshake, then whatever the test sends. */
class RawPeer {
  readonly frames: Frame[] = [];
  readonly hello: Hello;
  theirs: Hello | null = null;
  closed = false;
  private readonly reader = new FrameReader(MAX_FRAME_BYTES);

  constructor(
    readonly socket: net.Socket,
    id: string,
  ) {
    this.hello = { ...newHello(id), id };
    raws.push(this);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let f = this.reader.next(); f; f = this.reader.next()) this.frames.push(f);
    });
    socket.on('error', () => {}); // a reset by the node shows as `closed`, which the tests check
    socket.on('close', () => (this.closed = true));
  }

  /** Connects and proves `secret`; leads the pair (sends USE) when its id is the lower. */
  static async join(port: number, id: string, secret = SECRET): Promise<RawPeer> {
    const peer = new RawPeer(net.connect(port, '127.0.0.1'), id);
    peer.send(FrameType.HELLO, '', encodeHello(peer.hello));
    await peer.frame(1, 'HELLO');
    peer.theirs = decodeHello(peer.frames[0]!.payload);
    peer.send(FrameType.AUTH, '', proof(secret, 'dialer', peer.hello, peer.theirs));
    await peer.frame(2, 'AUTH');
    verifyProof(secret, 'acceptor', peer.theirs, peer.hello, peer.frames[1]!.payload);
    if (id < peer.theirs.id) peer.send(FrameType.USE);
    else await until(() => peer.frames.some((f) => f.type === FrameType.USE), 'USE');
    return peer;
  }

  /** Waits for the `n`th frame; throws if the node closes the connection first. */
  private async frame(n: number, what: string): Promise<void> {
    await until(() => this.frames.length >= n || this.closed, what);
    if (this.frames.length < n) throw new Error(`the node closed the connection instead of sending ${what}`);
  }

  send(type: FrameType, subject = '', payload?: Buffer): void {
    this.socket.write(encodeFrame(type, subject, payload));
  }
}

describe('MeshBackend', () => {
  it('refuses a peer with another secret: nothing is delivered, and the refusal is logged', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await node({ port: pa, peers: [`127.0.0.1:${pb}`], secret: 'one' });
    const b = await node({ port: pb, peers: [`127.0.0.1:${pa}`], secret: 'two' });
    b.mesh.subscribe('wm.s');
    await until(
      () => a.logged('peer failed authentication') > 0 && b.logged('peer failed authentication') > 0,
      'both to refuse',
    );
    for (let i = 0; i < 20; i++) {
      a.mesh.publish('wm.s', Buffer.from('x'));
      await sleep(20);
    }
    assert.deepEqual(b.rec.messages, []);
    assert.deepEqual([a.mesh.status().peers, b.mesh.status().peers], [[], []]);
    // A stranger without the secret is cut off without being shown a proof to guess it from.
    await assert.rejects(RawPeer.join(pb, 'f'.repeat(32), 'guess'), {
      message: 'the node closed the connection instead of sending AUTH',
    });
  });

  it('speaks version 1 with a version-1 build and 2 between current ones (round trips measured); refuses and logs a range it cannot speak', async () => {
    const [pa, pb, pc] = [await freePort(), await freePort(), await freePort()];
    const a = await node({ port: pa, peers: [`127.0.0.1:${pb}`, `127.0.0.1:${pc}`] });
    const old = await node({ port: pb, versions: { min: 1, max: 1 } });
    const cur = await node({ port: pc });
    await until(() => a.mesh.status().peers.length === 2, 'both peers');
    await live(a, old, 'wm.v');
    await live(old, a, 'wm.v');
    const byId = new Map(a.mesh.status().peers.map((p) => [p.id, p]));
    assert.equal(byId.get(old.mesh.id)!.version, 1);
    assert.equal(byId.get(cur.mesh.id)!.version, 2);
    await until(
      () => (a.mesh.status().peers.find((p) => p.id === cur.mesh.id)?.rttMs ?? null) !== null,
      'a round trip measured',
      3_000,
    );
    assert.equal(byId.get(old.mesh.id)!.rttMs, null);

    const future = await node({ port: await freePort(), peers: [`127.0.0.1:${pa}`], versions: { min: 3, max: 4 } });
    await until(
      () => a.logged('peer speaks mesh protocol versions 3 to 4; this node speaks 1 to 2') > 0,
      'the current node to refuse it',
    );
    await until(() => future.logged('HANDSHAKE_VERSION') > 0, 'the newer node to refuse too');
    assert.equal(a.mesh.status().peers.length, 2);
    assert.deepEqual(future.mesh.status().peers, []);
  });

  it('recognises its own addresses, dials each once and then never again', async () => {
    const port = await freePort();
    const a = await node({ port, host: '0.0.0.0', peers: [`127.0.0.1:${port}`, `127.0.0.2:${port}`] });
    await until(() => a.mesh.status().dials === 2 && a.mesh.status().connections === 0, 'both addresses tried');
    await sleep(1_000);
    assert.deepEqual(
      { ...a.mesh.status(), id: '', port: 0 },
      { id: '', port: 0, peers: [], connections: 0, dials: 2, pending: 0 },
    );
  });

  it('keeps one connection per pair when both dial each other through two addresses each', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const addrs = (p: number): string[] => [`127.0.0.1:${p}`, `127.0.0.2:${p}`];
    const a = await node({ port: pa, host: '0.0.0.0', peers: addrs(pb) });
    const b = await node({ port: pb, host: '0.0.0.0', peers: addrs(pa) });
    const settled = (n: Node): boolean => n.mesh.status().peers.length === 1 && n.mesh.status().connections === 1;
    await until(() => settled(a) && settled(b), 'one connection each');
    await sleep(300); // an attempt may still be on its way when the pair settles
    const [sa, sb] = [a.mesh.status(), b.mesh.status()];
    assert.notEqual(sa.peers[0]!.role, sb.peers[0]!.role, 'both ends of the same connection');
    await sleep(1_000);
    assert.deepEqual(
      [a.mesh.status().dials, b.mesh.status().dials],
      [sa.dials, sb.dials],
      'extra addresses stay parked',
    );
    assert.ok(settled(a) && settled(b));

    // Both ways at once, in order.
    await live(a, b, 'wm.ab');
    await live(b, a, 'wm.ba');
    for (let i = 0; i < 5_000; i++) {
      a.mesh.publish('wm.ab', Buffer.from(String(i)));
      b.mesh.publish('wm.ba', Buffer.from(String(i)));
    }
    await until(() => a.rec.messages.length === 5_000 && b.rec.messages.length === 5_000, 'both directions');
    const seq = Array.from({ length: 5_000 }, (_, i) => String(i));
    assert.deepEqual(
      b.rec.messages.map((m) => m.payload.toString()),
      seq,
    );
    assert.deepEqual(
      a.rec.messages.map((m) => m.payload.toString()),
      seq,
    );
  });

  it('finds its peers by DNS, skipping its own address', async () => {
    const port = await freePort();
    const resolve = async (): Promise<string[]> => ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
    const ns: Node[] = [];
    for (const host of ['127.0.0.1', '127.0.0.2', '127.0.0.3'])
      ns.push(await node({ port, host, dns: 'mesh.test', resolve }));
    await until(() => ns.every((n) => n.mesh.status().peers.length === 2), 'a full mesh of three');
    await live(ns[0]!, ns[2]!, 'wm.dns');
    assert.equal(ns[0]!.logged('mesh peers resolved'), 1);

    const failing = await node({
      port: await freePort(),
      dns: 'nowhere.test',
      resolve: () => Promise.reject(new Error('ENOTFOUND')),
    });
    await until(() => failing.logged('mesh peer DNS lookup failed') > 0, 'the lookup failure to be logged');
  });

  it('closes a connection that sends an oversized frame, and only that one', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await node({ port: pa, peers: [`127.0.0.1:${pb}`] });
    const b = await node({ port: pb });
    await live(a, b, 'wm.big');

    const raw = await RawPeer.join(pb, 'f'.repeat(32));
    await until(() => b.mesh.status().peers.length === 2, 'the raw peer to be connected');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_FRAME_BYTES + 1);
    raw.socket.write(header);
    await until(() => raw.closed, 'the oversized frame to close its connection');
    assert.equal(b.logged(`exceeds the limit of ${MAX_FRAME_BYTES}`), 1);

    // Before the handshake, the limit is 1 KiB: an HTTP request is not a mesh peer.
    const http = new RawPeer(net.connect(pb, '127.0.0.1'), 'e'.repeat(32));
    http.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => http.closed, 'a stranger speaking HTTP to be cut off');

    a.mesh.publish('wm.big', Buffer.from('still here'));
    await until(() => b.rec.messages.length === 1, 'the other connection to carry on');
    assert.deepEqual(
      b.mesh.status().peers.map((p) => p.id),
      [a.mesh.id],
    );
  });

  it('never sends a publication larger than a frame: it is dropped with an error', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await node({ port: pa, peers: [`127.0.0.1:${pb}`] });
    const b = await node({ port: pb });
    await live(a, b, 'wm.huge');
    assert.doesNotThrow(() => a.mesh.publish('wm.huge', Buffer.alloc(MAX_FRAME_BYTES)));
    a.mesh.publish('wm.huge', Buffer.from('small'));
    await until(() => b.rec.messages.length === 1, 'the small one');
    assert.equal(b.rec.messages[0]!.payload.toString(), 'small');
    assert.equal(a.logged('mesh publish dropped: payload too large'), 1);
  });

  it('drops publications to a peer that stops reading, logs once per episode, and resends interest after', async () => {
    const port = await freePort();
    const a = await node({ port });
    const raw = await RawPeer.join(port, '0'.repeat(32)); // the lower id: the raw peer leads
    raw.send(FrameType.RESET);
    raw.send(FrameType.SUB, 'wm.flood');
    await until(() => a.mesh.status().peers.length === 1, 'the raw peer to be connected');
    await sleep(100);
    raw.socket.pause();

    const mib = Buffer.alloc(1024 * 1024, 1);
    for (let i = 0; i < 100; i++) {
      a.mesh.publish('wm.flood', mib);
      if (i === 90) a.mesh.subscribe('wm.during'); // skipped while the socket is full
      await sleep(1);
    }
    assert.equal(a.logged('mesh peer is not keeping up'), 1);

    const before = raw.frames.length;
    raw.socket.resume();
    await until(() => a.logged('mesh peer caught up') === 1, 'the drain');
    const caughtUp = a.logs.find((l) => l.msg === 'mesh peer caught up')!;
    assert.ok((caughtUp.dropped as number) > 0, JSON.stringify(caughtUp));
    await until(
      () => raw.frames.slice(before).some((f) => f.type === FrameType.SUB && f.subject === 'wm.during'),
      'interest resent',
    );
    const received = raw.frames.filter((f) => f.type === FrameType.MSG).length;
    assert.ok(received < 100 && received + (caughtUp.dropped as number) === 100, `received ${received}`);
  });

  it('closes a connection on which nothing arrives for silenceMs, and logs it', async () => {
    const port = await freePort();
    const a = await node({ port, silenceMs: 2_500 });
    const raw = await RawPeer.join(port, '0'.repeat(32)); // answers nothing, not even pings
    const joined = Date.now();
    await until(() => a.mesh.status().peers.length === 1, 'the raw peer to be connected');
    await until(() => raw.closed, 'the silent peer to be closed', 6_000);
    assert.ok(Date.now() - joined >= 2_000, `closed after ${Date.now() - joined} ms`);
    assert.equal(a.logged('mesh peer silent for 2500 ms'), 1);
  });

  it('does not hold its own event-loop pause against its peers: a block longer than silenceMs closes nothing', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await node({ port: pa, peers: [`127.0.0.1:${pb}`], silenceMs: 2_500 });
    const b = await node({ port: pb, peers: [`127.0.0.1:${pa}`], silenceMs: 2_500 });
    await live(a, b, 'wm.before');
    const connected = a.logged('mesh peer connected') + b.logged('mesh peer connected');
    const end = Date.now() + 4_000;
    while (Date.now() < end); // the whole process: both nodes' ticks and sockets wait
    await sleep(1_500); // a tick or two after the block
    assert.equal(a.logged('mesh peer silent') + b.logged('mesh peer silent'), 0);
    assert.equal(a.logged('mesh peer connected') + b.logged('mesh peer connected'), connected, 'no reconnection');
    await live(a, b, 'wm.after');
  });

  it('fails connect() at once, naming the setting, when the port is taken', async () => {
    const port = await freePort();
    const taken = net.createServer().listen(port, '127.0.0.1');
    try {
      await new Promise((r) => taken.once('listening', r));
      const mesh = new MeshBackend(
        { port, host: '127.0.0.1', peers: [], secret: SECRET },
        createLogger({ level: 'silent' }),
      );
      await assert.rejects(mesh.connect(new Recorder()), {
        message: `cannot listen on cluster.mesh.port ${port} (host 127.0.0.1): EADDRINUSE`,
      });
      await mesh.close();
    } finally {
      taken.close();
    }
  });
});

describe('mesh: a peer that goes away', () => {
  it('reports its closed connection at once (peerGone), with the peer each message came by', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await node({ port: pa, peers: [`127.0.0.1:${pb}`] });
    const b = await node({ port: pb, peers: [`127.0.0.1:${pa}`] });
    const gone: string[] = [];
    const by: Array<string | undefined> = [];
    a.rec.peerGone = (peer: string): void => void gone.push(peer);
    a.rec.message = (subject: string, payload: Buffer, peer?: string): void => {
      a.rec.messages.push({ subject, payload });
      by.push(peer);
    };
    await live(b, a, 'ctl');
    b.mesh.publish('ctl', Buffer.from('x'));
    await until(() => by.length > 0 && a.rec.messages.length > 0, 'a message');
    assert.equal(by.at(-1), b.mesh.id);
    const closedAt = Date.now();
    await b.mesh.close();
    nodes.splice(nodes.indexOf(b), 1);
    await until(() => gone.length === 1, 'peerGone');
    assert.deepEqual(gone, [b.mesh.id]);
    assert.ok(Date.now() - closedAt < 1_000, 'long before any silence timeout');
  });
});
