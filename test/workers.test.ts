/**
 * `workers`: one node as several processes on one port. Through the real CLI (supervisor +
 * node:cluster workers), real pusher-js clients and the `pusher` SDK: connections land on every
 * worker (the kernel spreads them), presence and the HTTP API are the same whichever worker
 * answers, a killed worker is restarted and its clients come back, SIGTERM stops everything
 * with exit 0, and a worker that cannot start stops the whole node with exit 1.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { connected, pusherClient, serverSdk, until, type PusherClient } from './helpers/clients.js';
import { freePort, spawnServer, testApp, type ServerProcess } from './helpers/server.js';
import { childPids } from './helpers/api-process.js';
import { currentLtsNode } from './helpers/node-current.js';

/** `n` consecutive free ports (for the workers' loopback mesh). */
async function freePortRun(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const servers: net.Server[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const s = net.createServer();
        await new Promise<void>((resolve, reject) => s.once('error', reject).listen(base + i, '127.0.0.1', resolve));
        servers.push(s);
      }
      return base;
    } catch {
      // taken: try another run
    } finally {
      for (const s of servers) s.close();
    }
  }
  throw new Error('no run of free ports found');
}

/** TCP states in /proc/net/tcp: an accepted connection, a listening socket. */
const ESTABLISHED = '01';
const LISTEN = '0A';

/** TCP sockets on local `port` in `state`, per process (the pids given). */
function socketsPerPid(pids: number[], port: number, state: string): Map<number, number> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (parseInt(f[1]!.split(':')[1]!, 16) === port && f[3] === state) inodes.add(f[9]!);
    }
  }
  const out = new Map<number, number>();
  for (const pid of pids) {
    let n = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) n++;
      } catch {
        // fd closed meanwhile
      }
    }
    out.set(pid, n);
  }
  return out;
}

/** Established TCP connections accepted on `port`, per process. */
const acceptedPerPid = (pids: number[], port: number): Map<number, number> => socketsPerPid(pids, port, ESTABLISHED);
/** Listening TCP sockets on `port`, per process. */
const listeningPerPid = (pids: number[], port: number): Map<number, number> => socketsPerPid(pids, port, LISTEN);

/** How many members the client's pusher-js presence channel holds. */
function members(c: PusherClient, channel: string): number {
  return (c.channel(channel) as unknown as { members: { count: number } }).members.count;
}

const CLIENTS = 24;

for (const transport of ['auto', 'ws'] as const) {
  describe(`workers: two processes of one node (transport ${transport})`, () => {
    let server: ServerProcess | undefined;
    const clients: PusherClient[] = [];
    after(() => {
      for (const c of clients) c.disconnect();
      server?.kill('SIGKILL');
    });

    it('spreads connections over both workers; presence, events and the API agree on every worker; a killed worker comes back; SIGTERM exits 0', async () => {
      const meshPort = await freePortRun(2);
      server = await spawnServer({
        transport,
        workers: 2,
        shutdownGraceMs: 1_000,
        cluster: { heartbeatMs: 100, nodeTimeoutMs: 1_000, mesh: { port: meshPort } },
      });
      const srv = server;
      await until(() => srv.output().includes('wiremesh workers listening'), 'both workers listening', 10_000);
      const pids = childPids(srv.child.pid!);
      assert.equal(pids.length, 2, `two workers: ${srv.output()}`);

      const sdk = serverSdk(srv.port);
      const received = new Map<PusherClient, number>();
      for (let i = 0; i < CLIENTS; i++) {
        const c = pusherClient(srv.port, { presence: () => ({ user_id: `user-${i}` }) });
        clients.push(c);
        received.set(c, 0);
        c.subscribe('presence-room').bind('tick', () => received.set(c, received.get(c)! + 1));
      }
      await Promise.all(clients.map((c) => connected(c)));
      await until(
        () => clients.every((c) => members(c, 'presence-room') === CLIENTS),
        `every client sees ${CLIENTS} members`,
        10_000,
      );

      const spread = acceptedPerPid(pids, srv.port);
      for (const pid of pids)
        assert.ok(spread.get(pid)! > 0, `worker ${pid} holds connections: ${JSON.stringify([...spread])}`);
      // (plus the keep-alive connection of the start-up health check)
      assert.ok([...spread.values()].reduce((a, b) => a + b, 0) >= CLIENTS, JSON.stringify([...spread]));

      // The HTTP API answers from either worker (each request is a new connection).
      for (let i = 0; i < 6; i++) {
        const res = await sdk.get({ path: '/channels/presence-room/users' });
        assert.equal(((await res.json()) as { users: unknown[] }).users.length, CLIENTS);
        await sdk.trigger('presence-room', 'tick', { i });
      }
      await until(() => clients.every((c) => received.get(c) === 6), 'every client got the 6 events', 5_000);

      // /metrics answers for the whole node whichever worker takes the scrape: both workers' series.
      for (let i = 0; i < 3; i++) {
        const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
        const open = [...text.matchAll(/^wiremesh_connections\{app="app-id",worker="(\d)"\} (\d+)$/gm)];
        assert.deepEqual(open.map((m) => m[1]).sort(), ['0', '1'], text);
        assert.equal(
          open.reduce((sum, m) => sum + Number(m[2]), 0),
          CLIENTS,
          text,
        );
        assert.equal(text.match(/^# TYPE wiremesh_connections /gm)?.length, 1);
      }

      // kill -9 one worker: the supervisor starts another; its clients reconnect (to either worker).
      const victim = pids[0]!;
      process.kill(victim, 'SIGKILL');
      await until(() => srv.output().includes('worker exited; restarting'), 'restart logged');
      await until(() => srv.output().includes('worker restarted'), 'a new worker listening', 10_000);
      const now = childPids(srv.child.pid!);
      assert.equal(now.length, 2);
      assert.ok(!now.includes(victim));
      await until(
        () => clients.every((c) => c.connection.state === 'connected' && members(c, 'presence-room') === CLIENTS),
        'everyone back, full member list',
        15_000,
      );
      const res = await sdk.get({ path: '/channels/presence-room/users' });
      assert.equal(((await res.json()) as { users: unknown[] }).users.length, CLIENTS);

      srv.kill('SIGTERM');
      assert.equal(await srv.exited, 0, srv.output());
      server = undefined;
    });
  });
}

// Node 24 (the supported runtime) has node:net's reusePort: each worker binds the port itself and
// the kernel spreads connections; the supervisor accepts none (no per-connection IPC through it).
const node24 = currentLtsNode();
describe(
  'workers on Node 24, ws transport: SO_REUSEPORT',
  { skip: typeof node24 === 'string' ? false : node24.skip },
  () => {
    let server: ServerProcess | undefined;
    const clients: PusherClient[] = [];
    after(() => {
      for (const c of clients) c.disconnect();
      server?.kill('SIGKILL');
    });

    it('each worker has its own listening socket, the supervisor none; connections land on both workers', async () => {
      const meshPort = await freePortRun(2);
      server = await spawnServer(
        { transport: 'ws', workers: 2, shutdownGraceMs: 1_000, cluster: { mesh: { port: meshPort } } },
        {},
        undefined,
        node24 as string,
      );
      const srv = server;
      await until(() => srv.output().includes('wiremesh workers listening'), 'both workers listening', 15_000);
      const supervisor = srv.child.pid!;
      const pids = childPids(supervisor);
      assert.equal(pids.length, 2, `two workers: ${srv.output()}`);
      const listening = listeningPerPid([supervisor, ...pids], srv.port);
      assert.deepEqual(
        [...listening.values()],
        [0, 1, 1],
        `listening sockets on the port (supervisor, worker, worker): ${JSON.stringify([...listening])}`,
      );
      for (let i = 0; i < CLIENTS; i++) clients.push(pusherClient(srv.port));
      await Promise.all(clients.map((c) => connected(c)));
      const spread = acceptedPerPid(pids, srv.port);
      for (const pid of pids)
        assert.ok(spread.get(pid)! > 0, `worker ${pid} holds connections: ${JSON.stringify([...spread])}`);
      // SO_REUSEPORT would let a second server's workers join these sockets without an error: the
      // supervisor checks the port first and refuses, naming the setting.
      // (Its start helper sees this server's /health: what counts is that the second one exits.)
      const second = await spawnServer(
        { port: srv.port, transport: 'ws', workers: 2, cluster: { mesh: { port: await freePortRun(2) } } },
        {},
        undefined,
        node24 as string,
      );
      const code = await Promise.race([
        second.exited,
        new Promise((r) => setTimeout(() => r('still running'), 15_000)),
      ]);
      second.kill('SIGKILL');
      assert.equal(code, 1, `the second server exits 1: ${second.output()}`);
      assert.match(second.output(), new RegExp(`port ${srv.port} on 127\\.0\\.0\\.1 is already in use`));
      assert.deepEqual([...listeningPerPid([supervisor, ...pids], srv.port).values()], [0, 1, 1]);
      srv.kill('SIGTERM');
      assert.equal(await srv.exited, 0, srv.output());
      server = undefined;
    });
  },
);

describe('workers: failures', () => {
  it('a port another process holds stops the node with exit 1 before any worker starts, naming the setting', async () => {
    const port = await freePort();
    const squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    const meshPort = await freePortRun(2);
    try {
      await assert.rejects(
        spawnServer({ port, workers: 2, cluster: { mesh: { port: meshPort } } }),
        (err: Error) =>
          /exited early \(1\)/.test(err.message) &&
          new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`).test(err.message) &&
          !/worker failed to start/.test(err.message),
      );
    } finally {
      squatter.close();
    }
  });

  it('a worker that cannot listen stops the node with exit 1 and says why', async () => {
    // An address no interface here has (TEST-NET-1): the port is free, the workers' bind fails.
    const meshPort = await freePortRun(2);
    await assert.rejects(
      spawnServer({
        host: '192.0.2.1',
        port: await freePort(),
        workers: 2,
        apps: [testApp({ key: 'workers-key', secret: 'f'.repeat(64) })],
        cluster: { mesh: { port: meshPort } },
      }),
      (err: Error) => /exited early \(1\)/.test(err.message) && /worker failed to start/.test(err.message),
    );
  });
});

describe('workers on the mesh driver: two nodes of two workers each', () => {
  const servers: ServerProcess[] = [];
  const clients: PusherClient[] = [];
  after(() => {
    for (const c of clients) c.disconnect();
    for (const s of servers) s.kill('SIGKILL');
  });

  it('every worker of every node dials the others: one presence list on all four processes', async () => {
    const [meshA, meshB] = [await freePortRun(2), await freePortRun(2)];
    const mesh = (port: number, peer: number) => ({
      port,
      host: '127.0.0.1',
      peers: [`127.0.0.1:${peer}`],
      secret: 'workers-test-secret-of-at-least-32-bytes',
    });
    const cluster = { driver: 'mesh', heartbeatMs: 100, nodeTimeoutMs: 1_000 };
    servers.push(
      await spawnServer({ workers: 2, shutdownGraceMs: 500, cluster: { ...cluster, mesh: mesh(meshA, meshB) } }),
    );
    servers.push(
      await spawnServer({ workers: 2, shutdownGraceMs: 500, cluster: { ...cluster, mesh: mesh(meshB, meshA) } }),
    );
    for (const s of servers)
      await until(() => s.output().includes('wiremesh workers listening'), 'workers listening', 10_000);
    // Each of the four workers is connected to the three others.
    await until(
      () => servers.every((s) => (s.output().match(/"msg":"node joined"/g) ?? []).length >= 6),
      'every worker sees 3 nodes',
      10_000,
    );

    const n = 16;
    for (let i = 0; i < n; i++) {
      const c = pusherClient(servers[i % 2]!.port, { presence: () => ({ user_id: `user-${i}` }) });
      clients.push(c);
      c.subscribe('presence-mesh');
    }
    await Promise.all(clients.map((c) => connected(c)));
    await until(
      () => clients.every((c) => members(c, 'presence-mesh') === n),
      `every client on either node sees ${n} members`,
      10_000,
    );
    for (const s of servers) {
      const pids = childPids(s.child.pid!);
      const spread = acceptedPerPid(pids, s.port);
      assert.ok(
        pids.every((p) => spread.get(p)! > 0),
        `both workers of node ${s.port} hold clients: ${JSON.stringify([...spread])}`,
      );
    }
    for (const s of servers) {
      const res = await serverSdk(s.port).get({ path: '/channels/presence-mesh/users' });
      assert.equal(((await res.json()) as { users: unknown[] }).users.length, n);
    }
  });
});
