#!/usr/bin/env node
/**
 * Channel history in the broker (Redis Streams on the redis driver, JetStream on the nats driver)
 * against history in memory and history off, in one run on the same broker (the ratios are what
 * to read on a shared box), on the built code (`npx tsc -p tsconfig.json` first):
 *   node bench/history-broker.mjs [--quick] [--driver redis|nats] [--rounds N] [--channels N]
 * 1. fan-out and API latency: two in-process nodes over the broker, 100 raw WebSocket subscribers
 *    on each, 1,000 events through node 0's HTTP API (4 requests in flight): deliveries/s until
 *    every subscriber has every event, and the API's answer time (p50/p99); `--channels N` spreads
 *    the events and the subscribers over N channels (default one);
 * 2. replay of 100 missed events on node 0 for a channel published through node 1;
 * 3. the broker's bytes per channel of 100 events (200 channels, frames of ~200 characters): Redis
 *    MEMORY USAGE of the stream and its epoch key; JetStream, the stream's bytes (stream info) over
 *    the channels (file storage, the default).
 * Rounds are interleaved (off, memory, broker, off, …); the medians over all rounds are printed last.
 */
import { rawClient } from './raw-client.mjs';
import { startBroker } from '../dist/test/helpers/brokers.js';
import { startTestServer, testApp } from '../dist/test/helpers/server.js';
import { serverSdk } from '../dist/test/helpers/clients.js';

const QUICK = process.argv.includes('--quick');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : process.argv[at + 1];
};
const DRIVER = arg('--driver', 'redis');
if (DRIVER !== 'redis' && DRIVER !== 'nats') throw new Error(`--driver redis or nats, not ${DRIVER}`);
const ROUNDS = Number(arg('--rounds', '2'));
/** Channels the fan-out's events are spread over (the JetStream store serializes one node's appends per channel). */
const CHANNELS = Number(arg('--channels', '1'));
const SUBSCRIBERS = QUICK ? 10 : 100;
const EVENTS = QUICK ? 100 : 1_000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const round = (x) => Math.round(x * 100) / 100;

async function subscribe(port, channel, resume) {
  const c = rawClient(port, { counted: 'n' });
  await c.next((m) => m.event === 'pusher:connection_established');
  c.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, ...(resume ? { wm_resume: resume } : {}) } }));
  // A new subscription's confirmation carries its starting position (wm_pos).
  c.succeeded = await c.next((m) => m.event === 'pusher_internal:subscription_succeeded');
  return c;
}

async function cluster(url, store, prefix = `b${store}`) {
  const history = store === 'off' ? undefined : { channels: ['hist-*'], maxEvents: 2_000, store };
  const app = testApp(history ? { history } : {});
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const backend = DRIVER === 'redis' ? { redis: { url, prefix } } : { nats: { servers: [url], prefix } };
    const cl = { driver: DRIVER, ...backend, heartbeatMs: 100, nodeTimeoutMs: 500 };
    nodes.push(await startTestServer({ nodeId: `${store}${i}`, cluster: cl, apps: [app], logLevel: 'warn' }));
  }
  await new Promise((r) => setTimeout(r, 400));
  return nodes;
}

async function fanout(nodes, channel) {
  const subs = [];
  // With --channels N, subscriber i is on channel i % N and event n goes to channel n % N.
  const name = (k) => (CHANNELS === 1 ? channel : `${channel}-${k}`);
  for (const n of nodes) for (let i = 0; i < SUBSCRIBERS; i++) subs.push(await subscribe(n.port, name(i % CHANNELS)));
  await new Promise((r) => setTimeout(r, 200));
  const sdk = serverSdk(nodes[0].port);
  const latencies = [];
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < EVENTS) {
      const n = next++;
      const s = performance.now();
      await sdk.trigger(name(n % CHANNELS), 'n', { n, pad: 'x'.repeat(100) });
      latencies.push(performance.now() - s);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const want = (subs.length * EVENTS) / CHANNELS;
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
    const start = a.succeeded;
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

async function publishChannels(nodes, channels) {
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
}

async function brokerMemory(url, prefix, nodes, channels) {
  return DRIVER === 'redis' ? redisMemory(url, prefix, nodes, channels) : jetstreamBytes(url, channels);
}

async function redisMemory(url, prefix, nodes, channels) {
  await publishChannels(nodes, channels);
  const { createClient } = await import('redis');
  const redis = createClient({ url });
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

/** A stream of its own (fresh nodes under another prefix) holds only these channels' events: its bytes over them. */
async function jetstreamBytes(url, channels) {
  const prefix = 'bjsbytes';
  const nodes = await cluster(url, 'broker', prefix);
  await publishChannels(nodes, channels);
  await Promise.all(nodes.map((n) => n.close()));
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  // The store's stream name (src/history/durable/nats-stream.ts).
  const info = await jsm.streams.info(`${prefix}_hist_app-id`);
  await nc.close();
  const { bytes, messages, num_subjects } = info.state;
  return {
    channels,
    subjects: num_subjects,
    messages,
    bytes_per_channel: Math.round(bytes / channels),
    bytes_per_event: Math.round(bytes / messages),
  };
}

const broker = await startBroker(DRIVER);
const out = { off: [], memory: [], broker: [] };
// Interleaved rounds (the first warms the JIT and the box); every figure is reported.
for (let round = 0; round < ROUNDS; round++) {
  for (const store of ['off', 'memory', 'broker']) {
    const nodes = await cluster(broker.url, store);
    const r = { fanout: await fanout(nodes, `${store === 'off' ? 'bench' : 'hist'}-fan-${round}`) };
    if (store !== 'off') r.replay = await replayTime(nodes, QUICK ? 2 : 15);
    if (store === 'broker' && round === ROUNDS - 1)
      r.memory = await brokerMemory(broker.url, 'bbroker', nodes, QUICK ? 5 : 200);
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
const med = (s, f) => median(out[s].map(f));
const summary = {};
for (const s of ['off', 'memory', 'broker'])
  summary[s] = {
    deliveries_per_s: med(s, (r) => r.fanout.deliveries_per_s),
    api_p50_ms: med(s, (r) => r.fanout.api_p50_ms),
    api_p99_ms: med(s, (r) => r.fanout.api_p99_ms),
    ...(s === 'off' ? {} : { replay_median_ms: med(s, (r) => r.replay.median_ms) }),
  };
console.log(`medians over ${ROUNDS} rounds (${DRIVER})`, JSON.stringify(summary));
