/**
 * Rolling deploy across a mesh protocol change: the build just before the versioned handshake
 * (mesh protocol 1 only) runs as a real process next to this build (1 to 2), in one mesh.
 * Presence and events cross both ways, the pair speaks version 1, and the roll completes: the
 * old node is replaced by a current one, and then the pair speaks 2. A version neither build
 * speaks is refused by both, cleanly and with a log line, never misread.
 *
 * Each node has an address of its own: IPv6 (fdaa:…, like Fly's 6PN) when the process can add
 * them to lo (root and `ip`), else IPv4 loopback addresses (test/helpers/loopback-addresses.ts).
 * The old build listens on and dials IPv6 as well (it parses `[v6]:port` peers).
 */
import assert from 'node:assert/strict';
import net, { isIP } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encodeFrame, FrameReader, FrameType } from '../src/cluster/backends/mesh-frames.js';
import { newInstanceId } from '../src/cluster/backends/mesh-handshake.js';
import { pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { hostPort, loopbackAddresses, type LoopbackAddresses } from './helpers/loopback-addresses.js';
import { buildOld, commitBefore, type OldBuild } from './helpers/old-build.js';
import { freePort, spawnServer, type ServerProcess } from './helpers/server.js';

const SECRET = 'rolling-test-mesh-secret-of-32-bytes-or-more';
type PresenceChannel = { subscribed: boolean; members: { count: number; each(f: (m: { id: string }) => void): void } };

const found = await commitBefore('src/cluster/backends/mesh-handshake.ts', 'MAX_VERSION');

describe(
  'rolling deploy: mesh protocol 1 (previous build) and 1-2 (this build) in one mesh',
  { timeout: 170_000, skip: typeof found === 'string' ? false : found.skip },
  () => {
    let old: OldBuild;
    const procs: ServerProcess[] = [];
    const clients: PusherClient[] = [];
    let ports: number[] = [];
    let lo: LoopbackAddresses;
    let hosts: string[] = [];

    const nodeConfig = (i: number): Record<string, unknown> => ({
      nodeId: `roll-${i}`,
      logLevel: 'debug',
      shutdownGraceMs: 0,
      cluster: {
        driver: 'mesh',
        heartbeatMs: 200,
        nodeTimeoutMs: 1_000,
        mesh: { port: ports[i], host: hosts[i], peers: ports.map((p, j) => hostPort(hosts[j]!, p)), secret: SECRET },
      },
    });
    const client = (proc: ServerProcess, user?: string): PusherClient => {
      const c = pusherClient(proc.port, user ? { presence: () => ({ user_id: user }) } : {});
      clients.push(c);
      return c;
    };
    const ids = (ch: PresenceChannel): string[] => {
      const out: string[] = [];
      ch.members.each((m) => out.push(m.id));
      return out.sort();
    };

    const inFamily = (host: string): boolean =>
      lo.family === 6 ? isIP(host) === 6 && host.startsWith('fdaa:') : isIP(host) === 4 && host.startsWith('127.');
    /** Where a node's mesh listens, from its 'mesh listening' log line. */
    const meshAddressOf = (p: ServerProcess): { host: string; port: number } => {
      const line = p
        .output()
        .split('\n')
        .find((l) => l.includes('"msg":"mesh listening"'));
      const { host, port } = JSON.parse(line ?? '{}') as { host?: string; port?: number };
      return { host: host ?? '', port: port ?? 0 };
    };

    before(async () => {
      lo = await loopbackAddresses();
      hosts = [1, 2, 3].map((n) => lo.address(1, n));
      await lo.add(hosts);
      old = await buildOld(found as string);
      ports = [await freePort(), await freePort()];
    });
    after(async () => {
      try {
        for (const c of clients) c.disconnect();
        for (const p of procs) if (p.child.exitCode === null) p.kill('SIGKILL');
        await Promise.all(procs.map((p) => p.exited));
        await old?.remove();
      } finally {
        await lo?.release();
      }
    });

    it('presence and events cross both ways between the old and the new build; then the roll completes', async (t) => {
      t.diagnostic(
        lo.family === 6
          ? `address family: IPv6 (${hosts.join(', ')})`
          : `address family: IPv4 loopback (not IPv6: ${lo.fallback})`,
      );
      const oldNode = await spawnServer(nodeConfig(0), {}, old.dir);
      const newNode = await spawnServer(nodeConfig(1));
      procs.push(oldNode, newNode);
      assert.deepEqual(
        [meshAddressOf(oldNode), meshAddressOf(newNode)],
        [
          { host: hosts[0], port: ports[0] },
          { host: hosts[1], port: ports[1] },
        ],
      );
      assert.ok(hosts.every(inFamily), `the nodes' addresses are IPv${lo.family}: ${hosts.join(', ')}`);

      const onOld = client(oldNode, 'alice').subscribe('presence-roll') as unknown as PresenceChannel;
      const onNew = client(newNode, 'bob').subscribe('presence-roll') as unknown as PresenceChannel;
      await until(
        () => onOld.members.count === 2 && onNew.members.count === 2,
        'alice and bob to see each other across builds',
        10_000,
      );
      assert.deepEqual(
        [ids(onOld), ids(onNew)],
        [
          ['alice', 'bob'],
          ['alice', 'bob'],
        ],
      );

      const got = { old: [] as string[], new: [] as string[] };
      client(oldNode)
        .subscribe('roll-events')
        .bind('e', (d: { from: string }) => got.old.push(d.from));
      client(newNode)
        .subscribe('roll-events')
        .bind('e', (d: { from: string }) => got.new.push(d.from));
      await sleep(500);
      await serverSdk(oldNode.port).trigger('roll-events', 'e', { from: 'old' });
      await serverSdk(newNode.port).trigger('roll-events', 'e', { from: 'new' });
      await until(() => got.old.length === 2 && got.new.length === 2, 'events both ways', 5_000);
      assert.deepEqual(
        [got.old.sort(), got.new.sort()],
        [
          ['new', 'old'],
          ['new', 'old'],
        ],
      );
      const v1 = newNode
        .output()
        .split('\n')
        .find((l) => /"msg":"mesh peer connected"[^\n]*"version":1/.test(l));
      assert.ok(v1, 'the pair speaks version 1');
      const remote = String((JSON.parse(v1) as { remote?: unknown }).remote);
      assert.ok(
        inFamily(remote.slice(0, remote.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1')),
        `the old node's connection is IPv${lo.family}: ${remote}`,
      );

      // The roll: the old node goes (SIGTERM), a current one takes its place on the same ports.
      oldNode.kill('SIGTERM');
      await oldNode.exited;
      const next = await spawnServer(nodeConfig(0));
      procs.push(next);
      const onNext = client(next, 'carol').subscribe('presence-roll') as unknown as PresenceChannel;
      await until(
        () => onNext.members.count === 2 && ids(onNew).includes('carol') && !ids(onNew).includes('alice'),
        'carol in, alice gone',
        10_000,
      );
      await until(
        () => /"msg":"mesh peer connected"[^\n]*"version":2/.test(next.output()),
        'the current pair to speak version 2',
        5_000,
      );
    });

    it('a version neither build speaks is refused by both, with a log line, and nothing else is disturbed', async () => {
      const alone = await freePort();
      const mesh = { port: alone, host: hosts[2], peers: [hostPort(hosts[2]!, alone)], secret: SECRET };
      const oldNode = await spawnServer(
        { ...nodeConfig(0), cluster: { ...(nodeConfig(0).cluster as object), mesh } },
        {},
        old.dir,
      );
      procs.push(oldNode);
      const current = procs.find((p) => p.child.exitCode === null && p !== oldNode)!;
      for (const [target, expected] of [
        [oldNode, /peer speaks mesh protocol version 3; this node speaks 1/],
        [current, /peer speaks mesh protocol versions 3 to 4; this node speaks 1 to 2/],
      ] as const) {
        const socket = net.connect(meshAddressOf(target));
        socket.on('error', () => {}); // the node resets us: that is the point
        const reader = new FrameReader(1024);
        let sawHello = false;
        socket.on('data', (c: Buffer) => {
          reader.push(c);
          if (reader.next()?.type === FrameType.HELLO) sawHello = true;
        });
        const nonce = 'ab'.repeat(32);
        socket.write(
          encodeFrame(FrameType.HELLO, '', Buffer.from(JSON.stringify({ v: 3, max: 4, id: newInstanceId(), nonce }))),
        );
        await new Promise((resolve) => socket.once('close', resolve));
        assert.equal(sawHello, true, 'the node spoke first (its HELLO), then closed');
        await until(() => expected.test(target.output()), `the refusal logged: ${expected}`, 3_000);
      }
      // The current cluster carried on.
      assert.equal(current.child.exitCode, null);
    });
  },
);
