#!/usr/bin/env node
/**
 * Channel history in the broker (Redis Streams) against history in memory and history off, in one
 * run on the same redis-server (the ratios are what to read on a shared box), on the built code
 * (`npx tsc -p tsconfig.json` first):
 *   node bench/history-broker.mjs [--quick]
 * 1. fan-out and API latency: two in-process nodes over Redis, 100 raw WebSocket subscribers on
 *    each, 1,000 events through node 0's HTTP API (4 requests in flight): deliveries/s until every
 *    subscriber has every event, and the API's answer time (p50/p99);
 * 2. replay of 100 missed events on node 0 for a channel published through node 1;
 * 3. Redis memory per channel of 100 events (MEMORY USAGE of the stream and its epoch key, 200
 *    channels, frames of ~200 characters).
 */
import { rawClient } from './raw-client.mjs';
import { createClient } from 'redis';
import { startBroker } from '../dist/test/helpers/brokers.js';
import { startTestServer, testApp } from '../dist/test/helpers/server.js';
import { serverSdk } from '../dist/test/helpers/clients.js';

const QUICK = process.argv.includes('--quick');
const SUBSCRIBERS = QUICK ? 10 : 100;
const EVENTS = QUICK ? 100 : 1_000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const round = (x) => Math.round(x * 100) / 100;

async function subscribe(port, channel, resume) {
  const c = rawClient(port, { counted: 'n' });
  await c.next((m) => m.event === 'pusher:connection_established');
  c.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, ...(resume ? { wm_resume: resume } : {}) } }));
  await c.next((m) => m.event === 'pusher_internal:subscription_succeeded');
  return c;
}

async function cluster(redisUrl, store) {
  const history = store === 'off' ? undefined : { channels: ['hist-*'], maxEvents: 2_000, store };
  const app = testApp(history ? { history } : {});
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const cl = { driver: 'redis', redis: { url: redisUrl, prefix: `b${store}` }, heartbeatMs: 100, nodeTimeoutMs: 500 };
    nodes.push(await startTestServer({ nodeId: `${store}${i}`, cluster: cl, apps: [app], logLevel: 'warn' }));
  }
  await new Promise((r) => setTimeout(r, 400));
  return nodes;
}

async function fanout(nodes, channel) {
  const subs = [];
  for (const n of nodes) for (let i = 0; i < SUBSCRIBERS; i++) subs.push(await subscribe(n.port, channel));
  await new Promise((r) => setTimeout(r, 200));
  const sdk = serverSdk(nodes[0].port);
  const latencies = [];
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < EVENTS) {
      const n = next++;
      const s = performance.now();
      await sdk.trigger(channel, 'n', { n, pad: 'x'.repeat(100) });
      latencies.push(performance.now() - s);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const want = subs.length * EVENTS;
  while (subs.reduce((a, c) => a + c.count(), 0) < want) {
    if (performance.now() - t0 > 120_000) throw new Error('fan-out did not complete');
    await new Promise((r) => setTimeout(r, 5));
  }
  const seconds = (performance.now() - t0) / 1_000;
  for (const c of subs) c.ws.close();
  return {
    deliveries_per_s: Math.round(want / seconds),
    api_p50_ms: round(pct(latencies, 0.5)),
    api_p99_ms: round(pct(latencies, 0.99)),
  };
}

async function replayTime(nodes, rounds) {
  const sdk = serverSdk(nodes[1].port);
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const channel = `hist-replay-${r}-${Date.now().toString(36)}`;
    // The stream exists (a first event), then a client takes its position and leaves.
    await sdk.trigger(channel, 'first', {});
    const a = await subscribe(nodes[0].port, channel, 'new');
    const start = await a.next((m) => m.event === 'wiremesh:position');
    a.ws.close();
    for (let i = 0; i < 100; i += 10)
      await sdk.triggerBatch(Array.from({ length: 10 }, (_, j) => ({ channel, name: 'n', data: String(i + j) })));
    await new Promise((r) => setTimeout(r, 50));
    const b = rawClient(nodes[0].port, { counted: 'n' });
    await b.next((m) => m.event === 'pusher:connection_established');
    const t0 = performance.now();
    b.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, wm_resume: start.wm_pos } }));
    const done = await b.next((m) => m.event === 'wiremesh:resumed');
    times.push(performance.now() - t0);
    // 101 when the `first` event was still on its way to the channel's owner (memory store) as the position was taken.
    const replayed = JSON.parse(done.data).replayed;
    if (replayed !== 100 && replayed !== 101) throw new Error(`replayed ${done.data}`);
    b.ws.close();
  }
  return { median_ms: round(median(times)), min_ms: round(Math.min(...times)), max_ms: round(Math.max(...times)) };
}

async function brokerMemory(redisUrl, prefix, nodes, channels) {
  const sdk = serverSdk(nodes[0].port);
  for (let c = 0; c < channels; c++) {
    const channel = `hist-mem-${c}`;
    for (let i = 0; i < 100; i += 10)
      await sdk.triggerBatch(
        Array.from({ length: 10 }, (_, j) => ({
          channel,
          name: 'App\\Events\\OrderShipped',
          data: JSON.stringify({ id: c * 100 + i + j, pad: 'x'.repeat(100) }),
        })),
      );
  }
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  let stream = 0;
  let epoch = 0;
  const n = channels;
  for (let c = 0; c < channels; c++) {
    // The store's key names (src/history/durable/redis-store.ts): the topic (app id, NUL, channel) as a hash tag.
    const tag = `${prefix}:h:{${Buffer.from(`app-id\u0000hist-mem-${c}`).toString('base64url')}}`;
    stream += Number(await redis.sendCommand(['MEMORY', 'USAGE', `${tag}:s`, 'SAMPLES', '0']));
    epoch += Number(await redis.sendCommand(['MEMORY', 'USAGE', `${tag}:e`, 'SAMPLES', '0']));
  }
  await redis.close();
  return { channels: n, stream_bytes: Math.round(stream / n), epoch_bytes: Math.round(epoch / n) };
}

const broker = await startBroker('redis');
const out = { off: [], memory: [], broker: [] };
// Two interleaved rounds (the first warms the JIT and the box); every figure is reported.
for (let round = 0; round < 2; round++) {
  for (const store of ['off', 'memory', 'broker']) {
    const nodes = await cluster(broker.url, store);
    const r = { fanout: await fanout(nodes, `${store === 'off' ? 'bench' : 'hist'}-fan-${round}`) };
    if (store !== 'off') r.replay = await replayTime(nodes, QUICK ? 2 : 15);
    if (store === 'broker' && round === 1) r.memory = await brokerMemory(broker.url, 'bbroker', nodes, QUICK ? 5 : 200);
    await Promise.all(nodes.map((n) => n.close()));
    out[store].push(r);
    console.log(`round ${round} ${store}`, JSON.stringify(r));
  }
}
await broker.stop();
const last = (s) => out[s][out[s].length - 1].fanout.deliveries_per_s;
console.log(
  `fan-out vs history off (last round): memory ${round(last('memory') / last('off'))}×, broker ${round(last('broker') / last('off'))}×`,
);
