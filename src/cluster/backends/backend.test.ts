/**
 * The one contract suite for `ClusterBackend` (types.ts), run against every implementation:
 * memory (two backends on one MemoryBus), Redis (classic and sharded pub/sub on a standalone
 * server, sharded on a one-shard Redis Cluster) and NATS, each against its own real server
 * started for the suite (test/helpers/brokers.ts), and mesh (two nodes dialing each other on
 * loopback, no broker).
 *
 * What fails in the fault tests depends on the implementation: a broker is killed and brought
 * back (memory simulates it), and a peer node is closed and started again; a brokerless
 * implementation (mesh) runs only the latter.
 *
 * A broker binary that is not installed skips its implementation locally and fails under CI.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { brokerBinary, startBroker, type Broker, type BrokerKind } from '../../../test/helpers/brokers.js';
import { freePort } from '../../../test/helpers/server.js';
import type { ClusterConfig } from '../../config/schema.js';
import { silentLogger } from '../../log/logger.js';
import { MemoryBackend, MemoryBus } from './memory.js';
import type { BackendHandler, ClusterBackend } from './types.js';

/** Node 0 is `a` (the publisher in most tests), node 1 is `b`. */
type Slot = 0 | 1;

interface Fixture {
  /** A new backend for node `slot`, not yet connected, reaching the other node (through the broker). */
  create(slot: Slot): Promise<ClusterBackend>;
  /** The broker goes away abruptly (SIGKILL for real servers). Absent: there is no broker. */
  outage?(): Promise<void>;
  /** The broker comes back (same port). */
  recover?(): Promise<void>;
  /** `cluster` config of a third node (another process) reaching the other two, or null (memory). */
  cluster: ClusterConfig | null;
  teardown(): Promise<void>;
}

interface Impl {
  name: string;
  broker?: BrokerKind;
  /** No broker whose outage could be tested (mesh): the peer restart tests stand for it. */
  brokerless?: boolean;
  setup(): Promise<Fixture>;
}

function clusterConfig(patch: Partial<ClusterConfig>): ClusterConfig {
  return {
    driver: 'memory',
    redis: { url: 'redis://127.0.0.1:6379', prefix: 'wm', sharded: false },
    nats: { servers: ['nats://127.0.0.1:4222'], prefix: 'wm', historyStorage: 'file', historyReplicas: 1 },
    mesh: { port: 6100, host: '127.0.0.1', peers: [] },
    heartbeatMs: 1000,
    nodeTimeoutMs: 5000,
    ...patch,
  };
}

function brokerFixture(broker: Broker, cluster: ClusterConfig): Fixture {
  return {
    // Imported here so that the memory suite runs without the optional client packages.
    create: async () => (await import('./load.js')).createBackend(cluster, silentLogger),
    outage: () => broker.kill(),
    recover: () => broker.restart(),
    cluster,
    teardown: () => broker.stop(),
  };
}

const redisImpl = (sharded: boolean, cluster = false): Impl => ({
  name: `redis (${sharded ? 'sharded' : 'classic'} pub/sub, ${cluster ? 'one-shard Redis Cluster' : 'standalone'})`,
  broker: 'redis',
  async setup() {
    const broker = await startBroker('redis', { cluster });
    return brokerFixture(broker, clusterConfig({ driver: 'redis', redis: { url: broker.url, prefix: 'wm', sharded } }));
  },
});

const IMPLS: Impl[] = [
  {
    name: 'memory',
    async setup() {
      const bus = new MemoryBus();
      return {
        create: async () => new MemoryBackend(bus),
        outage: async () => bus.setDown(true),
        recover: async () => bus.setDown(false),
        cluster: null,
        teardown: async () => {},
      };
    },
  },
  redisImpl(false),
  redisImpl(true),
  redisImpl(true, true),
  {
    name: 'nats',
    broker: 'nats',
    async setup() {
      const broker = await startBroker('nats');
      return brokerFixture(
        broker,
        clusterConfig({
          driver: 'nats',
          nats: { servers: [broker.url], prefix: 'wm', historyStorage: 'file', historyReplicas: 1 },
        }),
      );
    },
  },
  {
    name: 'mesh (two nodes dialing each other on loopback)',
    brokerless: true,
    async setup() {
      // Each node lists the other, so every test also goes through the dedupe of a pair that
      // dialed each other at once. The third node (a child process) also lists a dead address.
      const [p0, p1, child, dead] = [await freePort(), await freePort(), await freePort(), await freePort()];
      const at = (port: number): string => `127.0.0.1:${port}`;
      const mesh = (port: number, peers: string[]): ClusterConfig =>
        clusterConfig({ driver: 'mesh', mesh: { port, host: '127.0.0.1', peers, secret: 'contract-secret' } });
      const ports = [p0, p1] as const;
      return {
        create: async (slot) =>
          (await import('./load.js')).createBackend(mesh(ports[slot], [at(ports[1 - slot]!)]), silentLogger),
        cluster: mesh(child, [at(p0), at(p1), at(dead)]),
        teardown: async () => {},
      };
    },
  },
];

/** Payload the suite uses to learn that a subscription is live; never counted as a message. */
const PROBE = Buffer.from('\u0000wiremesh-probe\u0000');

class Recorder implements BackendHandler {
  readonly messages: Array<{ subject: string; payload: Buffer }> = [];
  readonly changes: boolean[] = [];
  readonly probed = new Set<string>();

  message(subject: string, payload: Buffer): void {
    if (payload.equals(PROBE)) this.probed.add(subject);
    else this.messages.push({ subject, payload });
  }
  connectionChanged(up: boolean): void {
    this.changes.push(up);
  }
  on(subject: string): Buffer[] {
    return this.messages.filter((m) => m.subject === subject).map((m) => m.payload);
  }
}

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Subscribes `b` and waits until a publication from `a` reaches it (subscribing is asynchronous). */
async function subscribeLive(a: ClusterBackend, b: ClusterBackend, rec: Recorder, subjects: string[]): Promise<void> {
  for (const s of subjects) b.subscribe(s);
  const deadline = Date.now() + 5_000;
  while (!subjects.every((s) => rec.probed.has(s))) {
    if (Date.now() > deadline)
      assert.fail(`subscription to ${subjects.filter((s) => !rec.probed.has(s))} never went live`);
    for (const s of subjects) if (!rec.probed.has(s)) a.publish(s, PROBE);
    await sleep(20);
  }
}

const SUBJECTS = [
  'wm.app-1.private-chat.42',
  'wm.app-1.private-chat.42.extra',
  'wm.app=1@host,x;y',
  'wm.presence-room_a',
  `wm.${Buffer.from('presence-café/+?').toString('base64url')}`,
  `wm.${Buffer.from('presence-café/+!').toString('base64url')}`,
  'wm.a-b',
  'wm.a_b',
];

for (const impl of IMPLS) {
  const missing = impl.broker && !brokerBinary(impl.broker);
  const skip = missing && !process.env.CI ? `${impl.broker}-server is not installed` : false;

  describe(`ClusterBackend contract: ${impl.name}`, { skip }, () => {
    let fx: Fixture;
    let a: ClusterBackend;
    let b: ClusterBackend;
    let ra: Recorder;
    let rb: Recorder;

    before(async () => {
      fx = await impl.setup();
    });
    after(async () => {
      await fx?.teardown();
    });
    beforeEach(async () => {
      [a, b] = [await fx.create(0), await fx.create(1)];
      [ra, rb] = [new Recorder(), new Recorder()];
      await a.connect(ra);
      await b.connect(rb);
    });
    afterEach(async () => {
      await Promise.all([a.close(), b.close()]);
    });

    it('carries payloads byte for byte: empty, every byte value, UTF-8 and 1 MiB', async () => {
      const subject = 'wm.bytes';
      const payloads = [
        Buffer.alloc(0),
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        Buffer.from('naïve ☃ \r\n\u0000 end'),
        randomBytes(1024 * 1024),
      ];
      await subscribeLive(a, b, rb, [subject]);
      for (const p of payloads) a.publish(subject, p);
      await until(() => rb.on(subject).length === payloads.length, 'all payloads', 10_000);
      rb.on(subject).forEach((got, i) => assert.ok(got.equals(payloads[i]!), `payload ${i} differs`));
    });

    it('keeps FIFO order per publisher (10,000 payloads)', async () => {
      const subject = 'wm.fifo';
      await subscribeLive(a, b, rb, [subject]);
      const n = 10_000;
      for (let i = 0; i < n; i++) {
        const p = Buffer.alloc(4);
        p.writeUInt32BE(i);
        a.publish(subject, p);
      }
      await until(() => rb.on(subject).length === n, `${n} payloads`, 20_000);
      const order = rb.on(subject).map((p) => p.readUInt32BE());
      assert.deepEqual(
        order,
        Array.from({ length: n }, (_, i) => i),
      );
    });

    it('delivers only the subjects subscribed to, each once', async () => {
      const wanted = SUBJECTS.filter((_, i) => i % 2 === 0);
      await subscribeLive(a, b, rb, wanted);
      for (const s of SUBJECTS) a.publish(s, Buffer.from(s));
      await until(() => rb.messages.length >= wanted.length, 'the subscribed subjects');
      await sleep(200);
      assert.deepEqual(
        rb.messages.map((m) => [m.subject, m.payload.toString()]),
        wanted.map((s) => [s, s]),
      );
    });

    it('stops delivery at unsubscribe, and can subscribe again', async () => {
      const [gone, kept] = ['wm.unsub.gone', 'wm.unsub.kept'];
      await subscribeLive(a, b, rb, [gone, kept]);
      b.unsubscribe(gone);
      a.publish(gone, Buffer.from('late'));
      a.publish(kept, Buffer.from('marker'));
      await until(() => rb.on(kept).length === 1, 'the marker');
      await sleep(200);
      assert.equal(rb.on(gone).length, 0);

      rb.probed.clear();
      await subscribeLive(a, b, rb, [gone]);
      a.publish(gone, Buffer.from('again'));
      await until(() => rb.on(gone).length === 1, 'delivery after subscribing again');
      assert.equal(rb.on(gone)[0]!.toString(), 'again');
    });

    it('serves a peer that restarts: publishing meanwhile never throws, and the new node is served within seconds', async () => {
      const subject = 'wm.peer-restart';
      await subscribeLive(a, b, rb, [subject]);
      await b.close();
      assert.doesNotThrow(() => {
        for (let i = 0; i < 100; i++) a.publish(subject, Buffer.from('lost'));
      });
      await sleep(500);

      [b, rb] = [await fx.create(1), new Recorder()];
      await b.connect(rb);
      await subscribeLive(a, b, rb, [subject]);
      a.publish(subject, Buffer.from('after'));
      await until(() => rb.on(subject).some((p) => p.toString() === 'after'), 'delivery to the restarted node');
      assert.equal(
        rb.on(subject).filter((p) => p.toString() === 'lost').length,
        0,
        'publications made while it was down are not replayed',
      );
      assert.deepEqual(ra.changes, [], "another node's restart is not a loss of this node's own connection");
    });

    it('serves 10,000 subscriptions to a publisher that restarts', async () => {
      const subjects = Array.from({ length: 10_000 }, (_, i) => `wm.many.${'c'.repeat(200)}.${i}`);
      for (const s of subjects) b.subscribe(s);
      await subscribeLive(a, b, rb, [subjects.at(-1)!]);
      await a.close();
      [a, ra] = [await fx.create(0), new Recorder()];
      await a.connect(ra);
      rb.probed.clear();
      await subscribeLive(a, b, rb, [subjects.at(-1)!]); // subscriptions apply in order

      for (const s of subjects) a.publish(s, Buffer.from(s));
      await until(() => rb.messages.length === subjects.length, `${subjects.length} deliveries`, 10_000);
      assert.deepEqual(new Set(rb.messages.map((m) => m.subject)), new Set(subjects));
    });

    const brokerless = impl.brokerless ? 'no broker: the peer restart tests stand for it' : false;

    it(
      'survives a broker restart: reports down and up, keeps subscriptions, never throws',
      { skip: brokerless },
      async () => {
        const [before_, during] = ['wm.restart.before', 'wm.restart.during'];
        await subscribeLive(a, b, rb, [before_]);

        await fx.outage!();
        await until(() => ra.changes.includes(false) && rb.changes.includes(false), 'connectionChanged(false)');
        assert.doesNotThrow(() => {
          for (let i = 0; i < 100; i++) a.publish(before_, Buffer.from('lost'));
        });
        b.subscribe(during);
        // Long enough for clients to fail a reconnect attempt or two, which is when a client
        // flushes whatever it had queued.
        await sleep(1_000);

        await fx.recover!();
        await until(() => ra.changes.at(-1) === true && rb.changes.at(-1) === true, 'connectionChanged(true)', 10_000);
        assert.deepEqual(ra.changes, [false, true]);
        assert.deepEqual(rb.changes, [false, true]);

        a.publish(before_, Buffer.from('after'));
        a.publish(during, Buffer.from('after'));
        await until(
          () => rb.on(before_).some((p) => p.toString() === 'after') && rb.on(during).length > 0,
          'delivery on subscriptions made before and during the outage',
        );
        const replayed = rb.on(before_).filter((p) => p.toString() === 'lost').length;
        assert.ok(
          replayed <= 1,
          `publishes made while down must be dropped, not queued and replayed (${replayed} arrived)`,
        );
      },
    );

    it('keeps 10,000 subscriptions across a broker restart', { skip: brokerless }, async () => {
      // Long names (as base64url channel names get) make the replay megabytes, not kilobytes.
      const subjects = Array.from({ length: 10_000 }, (_, i) => `wm.many.${'c'.repeat(200)}.${i}`);
      for (const s of subjects) b.subscribe(s);
      await subscribeLive(a, b, rb, [subjects.at(-1)!]); // subscriptions apply in order

      await fx.outage!();
      await until(() => ra.changes.includes(false) && rb.changes.includes(false), 'connectionChanged(false)');
      await fx.recover!();
      await until(() => ra.changes.at(-1) === true && rb.changes.at(-1) === true, 'connectionChanged(true)', 10_000);

      for (const s of subjects) a.publish(s, Buffer.from(s));
      await until(() => rb.messages.length === subjects.length, `${subjects.length} deliveries`, 10_000);
      assert.deepEqual(new Set(rb.messages.map((m) => m.subject)), new Set(subjects));
    });

    it('lets the process exit after close()', async () => {
      const child = await spawnNode(fx.cluster ?? clusterConfig({}));
      child.send('close');
      assert.equal(await child.exit(5_000), 0, child.output());
    });

    // An outage of the parent's MemoryBus cannot reach a child process. (The mesh child above
    // already closes while dialing a dead peer.)
    it(
      'lets the process exit after close() while the broker is down',
      { skip: impl.name === 'memory' || brokerless },
      async () => {
        const child = await spawnNode(fx.cluster!);
        await fx.outage!();
        try {
          await child.expect('down', 5_000);
          child.send('close');
          assert.equal(await child.exit(8_000), 0, child.output());
        } finally {
          await fx.recover!();
        }
      },
    );
  });
}

/**
 * A child process that connects a backend from `cluster`, reports `up`, `down` and `closed` on
 * stdout, publishes while down (which must not throw), and closes when sent `close`.
 */
const CHILD = `
const { createBackend } = await import(process.env.WM_LOAD);
const { silentLogger } = await import(process.env.WM_LOG);
const backend = await createBackend(JSON.parse(process.env.WM_CLUSTER), silentLogger);
await backend.connect({
  message() {},
  connectionChanged(up) {
    if (!up) backend.publish('wm.child', Buffer.from('while down'));
    process.stdout.write(up ? 'up\\n' : 'down\\n');
  },
});
backend.subscribe('wm.child');
backend.publish('wm.child', Buffer.from('hello'));
process.stdout.write('connected\\n');
process.once('message', async () => {
  await backend.close();
  process.disconnect();
  process.stdout.write('closed\\n');
});
`;

async function spawnNode(cluster: ClusterConfig) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: {
      PATH: process.env.PATH,
      WM_CLUSTER: JSON.stringify(cluster),
      WM_LOAD: new URL('./load.js', import.meta.url).href,
      WM_LOG: new URL('../../log/logger.js', import.meta.url).href,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const handle = {
    output: () => out,
    send: (msg: string) => child.send(msg),
    expect: (line: string, timeoutMs: number) =>
      until(() => out.split('\n').includes(line), `child to print ${line}:\n${out}`, timeoutMs),
    async exit(timeoutMs: number): Promise<number | null> {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        const code = await exited;
        if (child.signalCode === 'SIGKILL')
          assert.fail(`child did not exit within ${timeoutMs} ms of close():\n${out}`);
        return code;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  await handle.expect('connected', 10_000);
  return handle;
}
