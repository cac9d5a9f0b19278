/**
 * The mesh across simulated regions (docs/regions.md): five real `wiremesh start` processes in
 * three regions with 40 / 80 / 150 ms round trips between them (user-space shaped links,
 * test/helpers/netsim.ts), peers found through a real DNS server started here; real pusher-js
 * clients in every region and publishers through any node's HTTP API (the `pusher` SDK).
 *
 * Partition semantics (decided, as in Phoenix.Tracker): each side keeps serving its own users and
 * shows the members on the other side as gone once the heartbeats stop (node timeout); when the
 * link heals, they come back as one member_added each. Members on a node's own side never flap.
 * The alternative (keep showing unreachable members) would show users who cannot receive
 * anything published on this side, and would hide a real departure for the whole partition.
 *
 * Shortened for CI: timings are real (delays, heartbeats 200 ms, node timeout 1 s), sample counts
 * small; bench/regions.mjs runs the same scenarios with more samples and prints the figures.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { pusherClient, serverSdk, sleep, until, type PusherClient } from './helpers/clients.js';
import { hostPort } from './helpers/loopback-addresses.js';
import { percentile, startRegions, type Regions } from './helpers/regions.js';

const HEARTBEAT_MS = 200;
const NODE_TIMEOUT_MS = 1_000;
const DELTA_MS = 5; // server.ts deltaDelayMs: the delta period
const RTT: Record<string, number> = { 'eu|us': 40, 'eu|ap': 80, 'us|ap': 150 };
const rtt = (a: string, b: string): number => (a === b ? 0 : (RTT[`${a}|${b}`] ?? RTT[`${b}|${a}`])!);
const MAX_RTT = 150;

type Member = { id: string };
type PresenceChannel = {
  subscribed: boolean;
  members: { count: number; each(f: (m: Member) => void): void };
  bind(e: string, f: (m: Member) => void): void;
};

let r: Regions;
const clients: PusherClient[] = [];
const client = (node: number, user?: string): PusherClient => {
  // Through the node's last-mile link (1 ms each way); the `pusher` SDK publishes to `port` directly.
  const c = pusherClient(r.nodes[node]!.clientPort, user ? { presence: () => ({ user_id: user }) } : {});
  clients.push(c);
  return c;
};

/** A presence watcher on each node: user `w<i>`, with every member_added / member_removed it heard (and when). */
interface Watcher {
  node: number;
  ch: PresenceChannel;
  events: Array<{ type: 'added' | 'removed'; id: string; at: number }>;
  ids(): string[];
}
function watch(node: number, channel: string, user = `w${node}`): Watcher {
  const ch = client(node, user).subscribe(channel) as unknown as PresenceChannel;
  const w: Watcher = {
    node,
    ch,
    events: [],
    ids: () => {
      const ids: string[] = [];
      ch.members.each((m) => ids.push(m.id));
      return ids.sort();
    },
  };
  ch.bind('pusher:member_added', (m) => w.events.push({ type: 'added', id: m.id, at: performance.now() }));
  ch.bind('pusher:member_removed', (m) => w.events.push({ type: 'removed', id: m.id, at: performance.now() }));
  return w;
}

type Channel = { subscribed: boolean; bind(e: string, f: (d: never) => void): void };
/** Subscribes a client on each of `nodes` to a public channel; resolves once all are subscribed and their interest has crossed the mesh. */
async function listen(
  nodes: number[],
  channel: string,
  event: string,
  on: (node: number, data: never) => void,
): Promise<void> {
  const chans = nodes.map((i) => {
    const ch = client(i).subscribe(channel) as unknown as Channel;
    ch.bind(event, (d) => on(i, d));
    return ch;
  });
  await until(() => chans.every((c) => c.subscribed), `${channel} subscribed on every node`, 10_000);
  await sleep(MAX_RTT); // the nodes' interest (SUB) travels one way, at most 75 ms
}

function report(title: string, samples: Map<string, number[]>): void {
  const rows = [...samples].map(
    ([pair, v]) =>
      `${pair}: p50 ${percentile(v, 50).toFixed(1)} ms, p99 ${percentile(v, 99).toFixed(1)} ms (n=${v.length})`,
  );
  console.log(`# ${title}\n#   ${rows.join('\n#   ')}`);
}

describe('mesh across regions (eu ×2, us ×1, ap ×2)', { timeout: 150_000 }, () => {
  const alive = (): number[] => r.nodes.filter((n) => n.alive).map((n) => n.index);

  before(async () => {
    r = await startRegions({
      regions: [
        { name: 'eu', nodes: 2 },
        { name: 'us', nodes: 1 },
        { name: 'ap', nodes: 2 },
      ],
      rtt,
      heartbeatMs: HEARTBEAT_MS,
      nodeTimeoutMs: NODE_TIMEOUT_MS,
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await r?.close();
  });

  it('nodes find each other through the DNS server, and a node joins and leaves as its records change', async () => {
    const ws = r.nodes.map((n) => watch(n.index, 'presence-dns'));
    await until(
      () => ws.every((w) => w.ch.subscribed && w.ch.members.count === 5),
      'a full mesh of five, found by DNS',
      15_000,
    );
    for (let i = 0; i < 5; i++)
      assert.ok((r.dns.queries.get(`n${i}.mesh.test`) ?? 0) > 0, `node ${i} asked the DNS server`);

    // Node 4 stops naming node 1 and node 1 stops naming node 4; their connection is cut. They no
    // longer dial each other, so each shows the other's member gone, while both stay in the mesh.
    const drop = (i: number, j: number): void =>
      r.dns.set(
        `n${i}.mesh.test`,
        [...r.links].filter(([k]) => k.startsWith(`${i}>`) && k !== `${i}>${j}`).map(([, l]) => l.host),
      );
    drop(1, 4);
    drop(4, 1);
    await sleep(5_500); // the dialers re-resolve every 5 s
    r.link(1, 4).reset();
    r.link(4, 1).reset();
    await until(() => !ws[1]!.ids().includes('w4') && !ws[4]!.ids().includes('w1'), 'node 1 and node 4 to part', 5_000);
    assert.equal(ws[0]!.ch.members.count, 5, 'the others still see everyone');
    // The records come back: they join again, one member_added each way.
    const backAt = performance.now();
    r.dns.set(
      'n1.mesh.test',
      [...r.links].filter(([k]) => k.startsWith('1>')).map(([, l]) => l.host),
    );
    r.dns.set(
      'n4.mesh.test',
      [...r.links].filter(([k]) => k.startsWith('4>')).map(([, l]) => l.host),
    );
    await until(
      () => ws[1]!.ch.members.count === 5 && ws[4]!.ch.members.count === 5,
      'node 1 and node 4 to meet again',
      10_000,
    );
    assert.equal(ws[1]!.events.filter((e) => e.id === 'w4' && e.type === 'added' && e.at >= backAt).length, 1);
  });

  it('the mesh runs on the address family it claims (IPv6 fdaa: like 6PN when root): logs and kernel sockets agree', async (t) => {
    t.diagnostic(`address family: ${r.describeFamily()}`);
    const inFamily = (host: string): boolean =>
      r.family === 6 ? isIP(host) === 6 && host.startsWith('fdaa:') : isIP(host) === 4 && host.startsWith('127.');
    const hostOf = (hp: string): string => hp.slice(0, hp.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
    const logged = (i: number, msg: string): Array<Record<string, unknown>> =>
      r.nodes[i]!.proc.output()
        .split('\n')
        .filter((l) => l.includes(`"msg":"${msg}"`))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const n of r.nodes) {
      const [listening] = logged(n.index, 'mesh listening');
      assert.equal(listening?.host, n.meshHost, `node ${n.index} listens on its own address`);
      assert.ok(inFamily(n.meshHost), `node ${n.index}'s address ${n.meshHost} is IPv${r.family}`);
      const connected = logged(n.index, 'mesh peer connected');
      assert.ok(connected.length >= 4, `node ${n.index} connected to its 4 peers (${connected.length} lines)`);
      const dialed = new Set([...r.links].filter(([k]) => k.startsWith(`${n.index}>`)).map(([, l]) => l.host));
      for (const c of connected) {
        const remote = String(c.remote);
        assert.ok(inFamily(hostOf(remote)), `node ${n.index}: peer connection from/to ${remote} is IPv${r.family}`);
        if (c.role === 'dialer')
          assert.ok(
            dialed.has(hostOf(remote)),
            `node ${n.index} dialed ${remote}, one of its links (${[...dialed].join(', ')})`,
          );
      }
    }
    // The kernel's view: established TCP connections on the nodes' mesh addresses, one per pair at least.
    let ss: string;
    try {
      ss = (await promisify(execFile)('ss', ['-Htn', 'state', 'established'])).stdout;
    } catch (err) {
      t.diagnostic(`ss unavailable (${(err as Error).message.split('\n')[0]}): checked the nodes' logs only`);
      return;
    }
    const locals = ss.split('\n').map((l) => l.trim().split(/\s+/)[2] ?? '');
    const onNodes = new Set(r.nodes.map((n) => hostPort(n.meshHost, r.meshPort)));
    const established = locals.filter((l) => onNodes.has(l));
    assert.ok(
      established.length >= 10,
      `at least one established mesh connection per pair on the nodes' addresses (${established.length}: ${established.join(' ')})`,
    );
    if (r.family === 6)
      assert.equal(
        locals.filter((l) => /^127\.0\.1\.\d+:/.test(l) && l.endsWith(`:${r.meshPort}`)).length,
        0,
        'nothing on the IPv4 node addresses',
      );
  });

  it('a presence join appears on every node within the one-way delay + the delta period (median per pair; p99 in the bench)', async () => {
    const channel = 'presence-join';
    const ws = r.nodes.map((n) => watch(n.index, channel));
    await until(() => ws.every((w) => w.ch.subscribed && w.ch.members.count === 5), 'watchers', 10_000);
    const samples = new Map<string, number[]>();
    for (let k = 0; k < 40; k++) {
      const origin = k % 5;
      const user = `joiner${k}`;
      const ch = client(origin, user).subscribe(channel) as unknown as PresenceChannel;
      let t0 = 0;
      ch.bind('pusher:subscription_succeeded', () => (t0 = performance.now()));
      await until(
        () => t0 > 0 && ws.every((w) => w.events.some((e) => e.id === user)),
        `${user} seen everywhere`,
        5_000,
      );
      for (const w of ws) {
        if (w.node === origin) continue;
        const ms = w.events.find((e) => e.id === user)!.at - t0;
        const pair = `${r.nodes[origin]!.region}->${r.nodes[w.node]!.region}`;
        samples.set(pair, [...(samples.get(pair) ?? []), ms]);
      }
    }
    report('presence join latency, origin -> observer region', samples);
    // Every pair's median within its one-way delay + the delta period + 20 ms (the joiner's
    // subscribe, two last-mile links and two nodes' processing on a machine with a load average
    // of 10-20): a join that waited for a heartbeat (200 ms, +100 on average) would fail this. The p99 goal (<= max RTT + one delta period) is measured by
    // bench/regions.mjs: tails of a few samples on a shared 2-core machine are scheduling noise.
    for (const [pair, v] of samples) {
      const [a, b] = pair.split('->') as [string, string];
      assert.ok(percentile(v, 50) <= rtt(a, b) / 2 + DELTA_MS + 20, `${pair}: p50 ${percentile(v, 50).toFixed(1)} ms`);
    }
    // Every member_added once per watcher, none removed.
    for (const w of ws)
      assert.equal(w.events.filter((e) => e.type === 'added' && e.id.startsWith('joiner')).length, 40);
    for (const w of ws)
      assert.deepEqual(
        w.events.filter((e) => e.type === 'removed'),
        [],
      );
  });

  it('a cross-region event reaches clients within the one-way delay + 5 ms (median per pair; p99 in the bench)', async () => {
    const received = r.nodes.map(() => new Map<number, number>());
    await listen(
      r.nodes.map((n) => n.index),
      'events',
      'tick',
      (i, d: { k: number }) => received[i]!.set(d.k, performance.now()),
    );
    const excess = new Map<string, number[]>();
    for (let k = 0; k < 40; k++) {
      const origin = k % 5;
      await serverSdk(r.nodes[origin]!.port).trigger('events', 'tick', { k });
      await until(() => received.every((m) => m.has(k)), `event ${k} everywhere`, 5_000);
      const local = received[origin]!.get(k)!;
      for (const n of r.nodes) {
        if (n.index === origin) continue;
        const over = received[n.index]!.get(k)! - local - r.oneWay(origin, n.index);
        const pair = `${r.nodes[origin]!.region}->${n.region}`;
        excess.set(pair, [...(excess.get(pair) ?? []), over]);
      }
    }
    report('cross-region event: arrival after the local delivery, minus the one-way delay', excess);
    if (process.env.REGIONS_DEBUG) console.log(JSON.stringify([...excess]));
    // The goal is p99 <= 5 ms, measured by bench/regions.mjs. On a shared 2-core CI machine
    // (load average 10-20 while this runs) a process waits for a CPU now and then, and the late
    // samples come in pairs (both receivers of one publication: the sending process was
    // descheduled, not the mesh). So the test holds every pair's median to the goal, which an
    // extra hop, a batching delay or a round trip would break.
    for (const [pair, v] of excess)
      assert.ok(percentile(v, 50) <= 5, `${pair}: p50 excess ${percentile(v, 50).toFixed(1)} ms`);
  });

  it('a partition cuts ap off and heals: each side serves its users and shows the other gone; after healing one member_added per returning member, no flapping', async () => {
    const channel = 'presence-partition';
    const ws = r.nodes.map((n) => watch(n.index, channel));
    await until(() => ws.every((w) => w.ch.subscribed && w.ch.members.count === 5), 'watchers', 10_000);
    const ap = new Set(r.nodes.filter((n) => n.region === 'ap').map((n) => n.index));
    const sameSide = (a: number, b: number): boolean => ap.has(a) === ap.has(b);

    const cutAt = performance.now();
    r.partition('ap');
    await until(
      () => ws.every((w) => w.ch.members.count === (ap.has(w.node) ? 2 : 3)),
      'each side to show the other gone',
      NODE_TIMEOUT_MS + 3_000,
    );
    const splitMs = performance.now() - cutAt;
    // Each side keeps serving its own users: an event published on one side reaches that side.
    const got = r.nodes.map(() => [] as string[]);
    await listen(
      r.nodes.map((n) => n.index),
      'during',
      'e',
      (i, d: { side: string }) => got[i]!.push(d.side),
    );
    await serverSdk(r.nodes[0]!.port).trigger('during', 'e', { side: 'eu' });
    await serverSdk(r.nodes[3]!.port).trigger('during', 'e', { side: 'ap' });
    await until(() => r.nodes.every((n) => got[n.index]!.length >= 1), 'each side to get its own event', 3_000);
    for (const n of r.nodes) assert.deepEqual(got[n.index], [ap.has(n.index) ? 'ap' : 'eu'], `node ${n.index}`);

    await sleep(1_000);
    const healAt = performance.now();
    r.heal('ap');
    await until(() => ws.every((w) => w.ch.members.count === 5), 'every view to converge', 5_000);
    const convergeMs = Math.max(
      ...ws.map(
        (w) => Math.max(...w.events.filter((e) => e.type === 'added' && e.at >= healAt).map((e) => e.at)) - healAt,
      ),
    );
    console.log(
      `# partition: split seen after ${splitMs.toFixed(0)} ms; converged ${convergeMs.toFixed(0)} ms after healing`,
    );
    await sleep(2 * HEARTBEAT_MS + MAX_RTT); // anything late would show now
    for (const w of ws) {
      for (const other of ws) {
        const evs = w.events.filter((e) => e.id === `w${other.node}` && e.at >= cutAt);
        if (other.node === w.node || sameSide(w.node, other.node)) {
          assert.deepEqual(evs, [], `w${w.node} must not see w${other.node} flap`);
        } else {
          assert.deepEqual(
            evs.map((e) => e.type),
            ['removed', 'added'],
            `w${w.node} about w${other.node}`,
          );
        }
      }
    }
    assert.ok(convergeMs <= 2 * HEARTBEAT_MS + MAX_RTT / 2, `converged after ${convergeMs.toFixed(0)} ms`);
  });

  it('a slow, lossy link keeps bounded buffers and no memory growth, leaves other links unaffected, and recovers', async () => {
    const ws = r.nodes.map((n) => watch(n.index, 'presence-lossy'));
    await until(() => ws.every((w) => w.ch.subscribed && w.ch.members.count === 5), 'watchers', 10_000);
    const received = r.nodes.map(() => new Map<number, number>());
    await listen(
      r.nodes.map((n) => n.index),
      'bulk',
      'b',
      (i, d: { k: number }) => received[i]!.set(d.k, performance.now()),
    );
    const slow = [r.link(0, 2), r.link(2, 0)];
    const sdk = serverSdk(r.nodes[0]!.port);
    const pad = 'x'.repeat(8 * 1024);
    let next = 0;
    /** Publishes 8 KiB every ~5 ms from node 0 (25 times what the slow link carries); returns the eu -> ap excess of every 10th. */
    const flood = async (n: number): Promise<{ excess: number[]; maxBuffered: number }> => {
      const excess: number[] = [];
      let maxBuffered = 0;
      for (let i = 0; i < n; i++) {
        const k = next++;
        await sdk.trigger('bulk', 'b', { k, pad });
        await sleep(5);
        maxBuffered = Math.max(maxBuffered, ...slow.map((l) => l.buffered));
        if (i % 10 === 0) {
          await until(() => received[3]!.has(k) && received[0]!.has(k), `event ${k} on ap`, 3_000);
          excess.push(received[3]!.get(k)! - received[0]!.get(k)! - r.oneWay(0, 3));
        }
      }
      return { excess, maxBuffered };
    };
    // Baseline: the same flood with every link healthy, so what node 0's own CPU costs under the
    // flood (on a loaded machine) is not blamed on the slow link.
    const baseline = await flood(200);
    for (const l of slow) l.set({ both: { bytesPerSecond: 64 * 1024, stallRate: 0.1, stallMs: 200 } });
    const restore = (): void => slow.forEach((l) => l.set({ both: { bytesPerSecond: 0, stallRate: 0 } }));
    try {
      const rssBefore = r.rss(0);
      const { excess, maxBuffered } = await flood(300);
      const rssGrowth = r.rss(0) - rssBefore;
      console.log(
        `# lossy link: proxy held at most ${(maxBuffered / 1024).toFixed(0)} KiB; node 0 RSS +${(rssGrowth / 1048576).toFixed(1)} MiB; ` +
          `eu->ap excess p50/p90 ${percentile(excess, 50).toFixed(1)}/${percentile(excess, 90).toFixed(1)} ms ` +
          `(healthy baseline ${percentile(baseline.excess, 50).toFixed(1)}/${percentile(baseline.excess, 90).toFixed(1)} ms)`,
      );
      assert.ok(maxBuffered <= 2 * 2 * 1024 * 1024, `proxy buffered ${maxBuffered}`);
      assert.ok(rssGrowth < 64 * 1024 * 1024, `node 0 grew by ${rssGrowth} bytes`);
      // Unaffected: the median as with healthy links, and no sample held back anywhere near what
      // the slow link holds its own traffic (its backlog is seconds; one stall alone is 200 ms).
      // Tails of 20-30 samples on this shared machine are scheduling noise, so no p90 here.
      assert.ok(
        percentile(excess, 50) <= percentile(baseline.excess, 50) + 5,
        'the eu -> ap link is unaffected (median)',
      );
      assert.ok(
        Math.max(...excess) < 200,
        `the eu -> ap link is never held back by the slow one (max ${Math.max(...excess).toFixed(1)} ms)`,
      );
    } finally {
      restore();
    }
    // The link recovers: shape back to normal, then a fresh event reaches us promptly.
    await until(() => ws.every((w) => w.ch.members.count === 5), 'presence whole again', 10_000);
    await until(() => received[2]!.has(next - 1), 'the backlog to drain (or be dropped)', 30_000).catch(
      () => undefined,
    );
    const probe = performance.now();
    await sdk.trigger('bulk', 'b', { k: 10_000 });
    await until(() => received[2]!.has(10_000), 'a fresh event over the recovered link', 10_000);
    console.log(`# lossy link: fresh event after recovery took ${(received[2]!.get(10_000)! - probe).toFixed(0)} ms`);
  });

  it('kill -9 of a node: its members are gone everywhere within the node timeout; nothing is lost elsewhere', async () => {
    const ws = r.nodes.map((n) => watch(n.index, 'presence-kill'));
    await until(() => ws.every((w) => w.ch.subscribed && w.ch.members.count === 5), 'watchers', 10_000);
    const victim = 2; // us, alone in its region
    const killedAt = performance.now();
    await r.kill(victim);
    const survivors = ws.filter((w) => w.node !== victim);
    await until(
      () => survivors.every((w) => !w.ids().includes(`w${victim}`)),
      'the victim gone everywhere',
      NODE_TIMEOUT_MS + 2 * HEARTBEAT_MS + 1_000,
    );
    const goneMs = performance.now() - killedAt;
    console.log(
      `# kill -9: members gone everywhere after ${goneMs.toFixed(0)} ms (node timeout ${NODE_TIMEOUT_MS} ms)`,
    );
    assert.ok(goneMs <= NODE_TIMEOUT_MS + 2 * HEARTBEAT_MS + MAX_RTT, `${goneMs} ms`);
    for (const w of survivors) {
      assert.deepEqual(
        w.ids(),
        alive()
          .map((i) => `w${i}`)
          .sort(),
      );
      assert.deepEqual(
        w.events.filter((e) => e.type === 'removed').map((e) => e.id),
        [`w${victim}`],
      );
    }
    const got = r.nodes.map(() => 0);
    await listen(alive(), 'after-kill', 'e', (i) => got[i]!++);
    await serverSdk(r.nodes[0]!.port).trigger('after-kill', 'e', {});
    await until(
      () => alive().every((i) => got[i] === 1),
      `an event still reaches every survivor (got ${JSON.stringify(got)})`,
      3_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; got per node ${JSON.stringify(got)}`);
    });
  });
});
