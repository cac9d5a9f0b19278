#!/usr/bin/env node
/**
 * The mesh across regions (issue 15), in two parts. Run after `npm run build`.
 *
 *   node bench/regions.mjs [--part regions|scale|all] [--joins 60] [--events 200] [--entries 100000] [--nodes 10,30,100]
 *
 * regions: five real `wiremesh start` processes in three regions (eu ×2, us, ap ×2; round trips
 *   eu-us 40, eu-ap 80, us-ap 150 ms) on shaped links (test/helpers/netsim.ts), found through a
 *   real DNS server; pusher-js clients in every region. Prints per pair of regions the p50/p99 of
 *   a presence join (joiner's subscription_succeeded -> member_added on the observer) and of a
 *   cross-region event (arrival minus the origin's local delivery, minus the one-way delay), the
 *   time a partition takes to show and to heal, and kill -9 -> members gone.
 * scale: the cost of full mesh at 10 and 30 nodes with 100k presence subscriptions cluster-wide,
 *   with the real presence state (src/presence/state.ts) and the real control envelope
 *   (src/cluster/envelope.ts) framed as the mesh frames them: heartbeat and delta bytes per node
 *   per second, CPU per node to apply its peers' deltas, the full-state catch-up size, memory.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    part: { type: 'string', default: 'all' },
    joins: { type: 'string', default: '60' },
    events: { type: 'string', default: '200' },
    entries: { type: 'string', default: '100000' },
    nodes: { type: 'string', default: '10,30,100' },
  },
});
const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);

const pct = (values, p) => {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const fmt = (v) => (Number.isFinite(v) ? v.toFixed(1) : '-');

async function regions() {
  const { startRegions } = await imp('test/helpers/regions.js');
  const { pusherClient, serverSdk, sleep, until } = await imp('test/helpers/clients.js');
  const RTT = { 'eu|us': 40, 'eu|ap': 80, 'us|ap': 150 };
  const rtt = (a, b) => (a === b ? 0 : (RTT[`${a}|${b}`] ?? RTT[`${b}|${a}`]));
  const HB = 200;
  const r = await startRegions({
    regions: [
      { name: 'eu', nodes: 2 },
      { name: 'us', nodes: 1 },
      { name: 'ap', nodes: 2 },
    ],
    rtt,
    heartbeatMs: HB,
    nodeTimeoutMs: 1_000,
  });
  console.log(`regions: 5 nodes (eu ×2, us ×1, ap ×2), mesh addresses ${r.describeFamily()}`);
  const clients = [];
  const client = (i, user) => {
    const c = pusherClient(r.nodes[i].clientPort, user ? { presence: () => ({ user_id: user }) } : {});
    clients.push(c);
    return c;
  };
  const watchers = (channel) =>
    r.nodes.map((n) => {
      const ch = client(n.index, `w${n.index}`).subscribe(channel);
      const w = { node: n.index, ch, events: [] };
      ch.bind('pusher:member_added', (m) => w.events.push({ type: 'added', id: m.id, at: performance.now() }));
      ch.bind('pusher:member_removed', (m) => w.events.push({ type: 'removed', id: m.id, at: performance.now() }));
      return w;
    });
  const region = (i) => r.nodes[i].region;
  const table = (title, samples, goal) => {
    console.log(`\n${title}`);
    console.log('| origin -> observer | one-way ms | p50 ms | p99 ms | n | goal |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const [pair, v] of [...samples].sort()) {
      const [a, b] = pair.split('->');
      console.log(
        `| ${pair} | ${rtt(a, b) / 2} | ${fmt(pct(v, 50))} | ${fmt(pct(v, 99))} | ${v.length} | ${goal(a, b)} |`,
      );
    }
  };
  try {
    // Presence joins.
    const ws = watchers('presence-bench');
    await until(() => ws.every((w) => w.ch.subscribed && w.ch.members.count === 5), 'mesh', 20_000);
    const joins = new Map();
    for (let k = 0; k < Number(args.joins); k++) {
      const origin = k % 5;
      const user = `j${k}`;
      let t0 = 0;
      client(origin, user)
        .subscribe('presence-bench')
        .bind('pusher:subscription_succeeded', () => (t0 = performance.now()));
      await until(() => t0 > 0 && ws.every((w) => w.events.some((e) => e.id === user)), user, 10_000);
      for (const w of ws) {
        if (w.node === origin) continue;
        const key = `${region(origin)}->${region(w.node)}`;
        joins.set(key, [...(joins.get(key) ?? []), w.events.find((e) => e.id === user).at - t0]);
      }
    }
    table(
      'presence join: subscription_succeeded on the joiner -> member_added on the observer',
      joins,
      () => '<= 155 (max RTT + delta period)',
    );

    // Cross-region events.
    const received = r.nodes.map(() => new Map());
    for (const n of r.nodes)
      client(n.index)
        .subscribe('bench-events')
        .bind('t', (d) => received[n.index].set(d.k, performance.now()));
    await sleep(500);
    const events = new Map();
    const arrival = new Map();
    for (let k = 0; k < Number(args.events); k++) {
      const origin = k % 5;
      await serverSdk(r.nodes[origin].port).trigger('bench-events', 't', { k });
      await until(() => received.every((m) => m.has(k)), `event ${k}`, 10_000);
      const local = received[origin].get(k);
      for (const n of r.nodes) {
        if (n.index === origin) continue;
        const key = `${region(origin)}->${n.region}`;
        const ms = received[n.index].get(k) - local;
        arrival.set(key, [...(arrival.get(key) ?? []), ms]);
        events.set(key, [...(events.get(key) ?? []), ms - r.oneWay(origin, n.index)]);
      }
    }
    table('cross-region event: arrival after the local delivery (ms)', arrival, (a, b) => `<= ${rtt(a, b) / 2 + 5}`);
    table('cross-region event: excess over the one-way delay (ms)', events, () => '<= 5');

    // Partition of ap, then heal.
    const pw = watchers('presence-part');
    await until(() => pw.every((w) => w.ch.subscribed && w.ch.members.count === 5), 'watchers', 20_000);
    const ap = new Set(r.nodes.filter((n) => n.region === 'ap').map((n) => n.index));
    const cut = performance.now();
    r.partition('ap');
    await until(() => pw.every((w) => w.ch.members.count === (ap.has(w.node) ? 2 : 3)), 'split', 10_000);
    const split = performance.now() - cut;
    await sleep(1_000);
    const heal = performance.now();
    r.heal('ap');
    await until(() => pw.every((w) => w.ch.members.count === 5), 'heal', 10_000);
    const healed = performance.now() - heal;
    await sleep(1_000);
    const flaps = pw.reduce(
      (n, w) => n + w.events.filter((e) => e.at >= cut && ap.has(Number(e.id.slice(1))) === ap.has(w.node)).length,
      0,
    );
    const added = pw.reduce((n, w) => n + w.events.filter((e) => e.at >= heal && e.type === 'added').length, 0);
    console.log(
      `\npartition of ap (heartbeat ${HB} ms, node timeout 1000 ms): split shown after ${split.toFixed(0)} ms; ` +
        `converged ${healed.toFixed(0)} ms after healing; member_added after healing ${added} (expected 12: 2 ap x 3 others x 2 ways); flaps on the same side ${flaps}`,
    );

    // kill -9.
    const kw = watchers('presence-kill');
    await until(() => kw.every((w) => w.ch.subscribed && w.ch.members.count === 5), 'watchers', 20_000);
    const killed = performance.now();
    await r.kill(2);
    await until(() => kw.filter((w) => w.node !== 2).every((w) => w.ch.members.count === 4), 'gone', 10_000);
    console.log(
      `kill -9 of the us node: its members gone everywhere after ${(performance.now() - killed).toFixed(0)} ms (node timeout 1000 ms)`,
    );
  } finally {
    for (const c of clients) c.disconnect();
    await r.close();
  }
}

async function scale() {
  const { TrackerState } = await imp('src/presence/state.js');
  const { encodeControl, decodeControl, Subjects } = await imp('src/cluster/envelope.js');
  const { encodeFrame, FrameType } = await imp('src/cluster/backends/mesh-frames.js');
  const TOTAL = Number(args.entries);
  const CHANNELS = 2_000;
  const HEARTBEAT_MS = 1_000; // the default cluster.heartbeatMs
  const CHURN = 200; // presence joins + leaves per second, cluster-wide (0.2 % of the entries)
  const subjects = new Subjects('wiremesh');
  const frameBytes = (payload) => encodeFrame(FrameType.MSG, subjects.control, payload).length;
  {
    // Memory one node spends on the replicated state, whatever N: 100k entries of other replicas.
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    const viewer = new TrackerState('viewer-0000');
    for (let i = 0; i < 10; i++) {
      const owner = new TrackerState(`owner${i}-0000`);
      for (let k = 0; k < TOTAL / 10; k++) {
        const s = i * (TOTAL / 10) + k;
        owner.join(`app\u0000presence-room-${s % CHANNELS}`, `user${s}`, `${s}.${s}`, { name: `User ${s}` });
      }
      viewer.applySnapshot(owner.snapshot());
    }
    global.gc?.();
    const mib = (process.memoryUsage().heapUsed - before) / 1048576;
    console.log(
      `\nheap of one node's replica of ${TOTAL.toLocaleString('en')} presence entries: ${global.gc ? `${mib.toFixed(0)} MiB` : '(run with node --expose-gc)'} (${viewer.size()} entries)`,
    );
  }
  console.log(
    `\ncost of full mesh: ${TOTAL.toLocaleString('en')} presence subscriptions in ${CHANNELS} channels, heartbeat ${HEARTBEAT_MS} ms, churn ${CHURN}/s`,
  );
  console.log(
    '| nodes | links | idle heartbeat out / node | with churn out / node | in / node | CPU / node to apply peers (ms/s) | catch-up (full state) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const N of args.nodes.split(',').map(Number)) {
    const ids = Array.from({ length: N }, (_, i) => `node${i}-${(0xabc0 + i).toString(16)}`);
    const states = ids.map((id) => new TrackerState(id));
    const viewer = new TrackerState('viewer-0000');
    // Each node owns TOTAL / N entries; the viewer (one node's replica of everyone) merges them all.
    let sock = 0;
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < TOTAL / N; k++) {
        const s = sock++;
        states[i].join(`app\u0000presence-room-${s % CHANNELS}`, `user${s}`, `${s}.${s}`, { name: `User ${s}` });
      }
      viewer.applySnapshot(states[i].snapshot());
      states[i].takeDelta();
    }
    const catchUp = ids.reduce(
      (n, _, i) => n + encodeControl('snap', ids[i], { snapshot: states[i].snapshot() }).length,
      0,
    );
    const conns = { 'app-id': Math.round(TOTAL / N) };
    const idle = frameBytes(encodeControl('hb', ids[0], { clock: TOTAL / N, delta: null, conns }));
    // One second of churn: CHURN / N joins and leaves per node, sent as one delta per heartbeat.
    const perNode = Math.max(1, Math.round(CHURN / N / 2));
    const deltas = [];
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < perNode; k++) {
        const s = sock++;
        states[i].join(`app\u0000presence-room-${s % CHANNELS}`, `user${s}`, `${s}.${s}`, { name: `User ${s}` });
        const victim = states[i].entries(`app\u0000presence-room-${k % CHANNELS}`).find((e) => e.replica === ids[i]);
        if (victim) states[i].leave(victim.topic, victim.ref);
      }
      const delta = states[i].takeDelta();
      deltas.push(encodeControl('hb', ids[i], { clock: 0, delta, conns }));
    }
    const churnOut = deltas.reduce((n, d) => n + frameBytes(d), 0) / N;
    // CPU: one node decodes and applies the N-1 heartbeats of its peers, every period.
    const t0 = performance.now();
    const reps = 20;
    for (let rep = 0; rep < reps; rep++) {
      for (let i = 1; i < N; i++) {
        const msg = decodeControl(deltas[i]);
        if (msg.delta && rep === 0) viewer.applyDelta(msg.delta);
        else JSON.stringify(msg); // later reps: the decode cost only (the delta is applied once)
      }
    }
    const cpu = (performance.now() - t0) / reps / (HEARTBEAT_MS / 1000);
    const perSec = 1000 / HEARTBEAT_MS;
    const kib = (b) => `${(b / 1024).toFixed(1)} KiB/s`;
    console.log(
      `| ${N} | ${(N * (N - 1)) / 2} | ${kib(idle * (N - 1) * perSec)} | ${kib(churnOut * (N - 1) * perSec)} | ${kib(churnOut * (N - 1) * perSec)} | ${cpu.toFixed(2)} | ${(catchUp / 1048576).toFixed(1)} MiB |`,
    );
  }
}

const { loadavg, cpus } = await import('node:os');
console.log(
  `node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
if (args.part === 'regions' || args.part === 'all') await regions();
if (args.part === 'scale' || args.part === 'all') await scale();
