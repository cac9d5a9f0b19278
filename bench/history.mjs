#!/usr/bin/env node
/**
 * Channel history figures, on the built code (`npm run build` first):
 *   node --expose-gc bench/history.mjs [--quick]      (--quick: tiny counts, seconds; the figures mean nothing)
 * 1. memory per channel of history: 1,000 channels × 100 events of a 100-byte payload in a
 *    HistoryStore, heap delta after GC;
 * 2. replay time for 100 missed events: a raw WebSocket client resubscribes with its last position
 *    and waits for `wiremesh:resumed` (100 events before it), on one node, and on a two-node memory
 *    cluster from the node that does not hold the channel's history (one round trip to the owner).
 * The fan-out cost (history on vs off) is measured with the shared harness; see bench/RESULTS.md.
 */
import { once } from 'node:events';
import { rawClient } from './raw-client.mjs';
import { HistoryStore } from '../dist/src/history/store.js';
import { channelEvent, withPosition } from '../dist/src/protocol/frames.js';
import { formatPosition } from '../dist/src/history/position.js';
import { historyDefaults } from '../dist/src/config/schema.js';
import { startTestServer, testApp } from '../dist/test/helpers/server.js';
import { MemoryBus } from '../dist/src/cluster/backends/memory.js';
import { Membership } from '../dist/src/cluster/membership.js';
import { HistoryChannels } from '../dist/src/history/channels.js';
import { Sequencer } from '../dist/src/history/sequencer.js';
import { serverSdk } from '../dist/test/helpers/clients.js';

const QUICK = process.argv.includes('--quick');
const gc = globalThis.gc ?? (() => {});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function memoryPerChannel(channels = 1_000, events = 100, payload = 100) {
  const config = { ...historyDefaults(), channels: ['*'] };
  const store = new HistoryStore(() => config);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let c = 0; c < channels; c++) {
    const topic = `app-id\u0000orders-${c}`;
    const stream = store.open('app-id', topic, 0);
    for (let e = 0; e < events; e++) {
      // A typical Laravel broadcast: JSON-encoded data, unique per event (no shared strings).
      const data = JSON.stringify({ id: c * events + e, pad: 'x'.repeat(payload - 20) });
      stream.append(0, (p) =>
        withPosition(channelEvent('App\\Events\\OrderShipped', `orders-${c}`, data), formatPosition(p)),
      );
    }
  }
  gc();
  const bytes = process.memoryUsage().heapUsed - before;
  const frame = store.stats().bytes / store.stats().events;
  return {
    kib_per_channel: +(bytes / channels / 1024).toFixed(1),
    bytes_per_event: Math.round(bytes / channels / events),
    frame_chars: Math.round(frame),
    keep: store,
  };
}

async function replayTime(subscribePort, publishPort, rounds = 15, wanted = () => true) {
  const sdk = serverSdk(publishPort);
  const times = [];
  let k = 0;
  for (let r = 0; r < rounds; r++) {
    let channel;
    do channel = `hist-bench-${++k}-${Date.now().toString(36)}`;
    while (!wanted(channel));
    const a = rawClient(subscribePort);
    await a.next((m) => m.event === 'pusher:connection_established');
    a.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, wm_resume: 'new' } }));
    // A new subscription's confirmation carries its starting position (wm_pos).
    const start = await a.next((m) => m.event === 'pusher_internal:subscription_succeeded');
    a.ws.close();
    for (let i = 0; i < 100; i += 10) {
      await sdk.triggerBatch(Array.from({ length: 10 }, (_, j) => ({ channel, name: 'n', data: String(i + j) })));
    }
    await new Promise((r) => setTimeout(r, 50));
    const b = rawClient(subscribePort);
    await b.next((m) => m.event === 'pusher:connection_established');
    const t0 = process.hrtime.bigint();
    b.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, wm_resume: start.wm_pos } }));
    const done = await b.next((m) => m.event === 'wiremesh:resumed');
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const got = b.queue.filter((m) => m.event === 'n').length;
    if (got !== 100 || JSON.parse(done.data).replayed !== 100) throw new Error(`replayed ${got}`);
    times.push(ms);
    b.ws.close();
  }
  return {
    median_ms: +median(times).toFixed(2),
    min_ms: +Math.min(...times).toFixed(2),
    max_ms: +Math.max(...times).toFixed(2),
  };
}

/** CPU of the history step alone per published event (sequence, position, keep), without delivery. */
function sequenceCost(events = 200_000) {
  const apps = [{ id: 'app-id', history: { ...historyDefaults(), channels: ['orders-*'] } }];
  let sink = 0;
  const channels = new HistoryChannels(apps);
  const sequencer = new Sequencer({ channels });
  const frames = Array.from({ length: 1_000 }, (_, i) =>
    channelEvent('App\\Events\\OrderShipped', 'orders-1', JSON.stringify({ id: i, pad: 'x'.repeat(80) })),
  );
  const topic = 'app-id\u0000orders-1';
  const run = (n) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++)
      if (channels.handles('app-id', topic)) sink += sequencer.sequence('app-id', topic, frames[i % 1_000]).length;
    return Number(process.hrtime.bigint() - t0) / n;
  };
  run(Math.min(20_000, events));
  const ns = median([run(events), run(events), run(events)]);
  sequencer.stop();
  return { ns_per_event: Math.round(ns), sink };
}
const seq = QUICK ? sequenceCost(2_000) : sequenceCost();
console.log(`history step per published event (no delivery): ${seq.ns_per_event} ns`);
const mem = QUICK ? memoryPerChannel(20, 100) : memoryPerChannel();
console.log(
  `memory: ${mem.kib_per_channel} KiB per channel of 100 events (${mem.bytes_per_event} B per event, frames of ${mem.frame_chars} chars)`,
);

const app = testApp({ history: { channels: ['hist-*'], maxEvents: 100 } });
const one = await startTestServer({ apps: [app], logLevel: 'warn' });
const solo = await replayTime(one.port, one.port, QUICK ? 2 : 15);
console.log(`replay of 100 missed events, one node: median ${solo.median_ms} ms [${solo.min_ms}..${solo.max_ms}]`);
await one.close();

const bus = new MemoryBus();
const cluster = { driver: 'memory', heartbeatMs: 100, nodeTimeoutMs: 500 };
const nodes = [];
for (let i = 0; i < 2; i++)
  nodes.push(await startTestServer({ nodeId: `n${i}`, cluster, apps: [app], logLevel: 'warn' }, { bus }));
await new Promise((r) => setTimeout(r, 500));
// Channels whose history node 1 holds (the same rendezvous choice the nodes make), replayed through node 0.
const view = new Membership(nodes[0].server.nodeId, { nodeTimeoutMs: 500, forgetAfterMs: 60_000 });
view.heartbeat(nodes[1].server.nodeId, {});
const remote = (name) => view.owner(`app-id\u0000${name}`) === nodes[1].server.nodeId;
const two = await replayTime(nodes[0].port, nodes[1].port, QUICK ? 2 : 15, remote);
console.log(
  `replay of 100 missed events from the other node (memory bus): median ${two.median_ms} ms [${two.min_ms}..${two.max_ms}]`,
);
await Promise.all(nodes.map((n) => n.close()));
console.log(
  JSON.stringify({
    sequence_ns_per_event: seq.ns_per_event,
    memory: { ...mem, keep: undefined },
    replay_one_node: solo,
    replay_remote: two,
  }),
);
void once;
