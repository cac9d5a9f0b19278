#!/usr/bin/env node
/**
 * How long a killed node's users take to disappear from the others: two `wiremesh start` processes
 * on a private redis-server (or nats-server), default cluster timings unless given, a presence
 * member on each node; `kill -9` one node and time the `member_removed` seen on the other.
 *   node bench/node-failure.mjs [redis|nats] [--rounds 3] [--node-timeout-ms 10000] [--heartbeat-ms 1000]
 * Needs `npm run build` (uses the compiled test helpers).
 */
import { startBroker } from '../dist/test/helpers/brokers.js';
import { spawnServer, testApp } from '../dist/test/helpers/server.js';
import { pusherClient, until } from '../dist/test/helpers/clients.js';

const args = process.argv.slice(2);
const kind = args.find((a) => a === 'redis' || a === 'nats') ?? 'redis';
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const rounds = opt('--rounds', 3);
const nodeTimeoutMs = opt('--node-timeout-ms', 10_000);
const heartbeatMs = opt('--heartbeat-ms', 1_000);

const broker = await startBroker(kind);
const cluster =
  kind === 'redis'
    ? { driver: 'redis', redis: { url: broker.url } }
    : { driver: 'nats', nats: { servers: [broker.url] } };
const times = [];
for (let r = 0; r < rounds; r++) {
  const config = { cluster: { ...cluster, heartbeatMs, nodeTimeoutMs }, apps: [testApp()], logLevel: 'warn' };
  const victim = await spawnServer({ ...config, nodeId: 'victim' });
  const survivor = await spawnServer({ ...config, nodeId: 'survivor' });
  const channel = `presence-failure-${r}`;
  const a = pusherClient(victim.port, { presence: () => ({ user_id: 'on-victim' }) });
  const b = pusherClient(survivor.port, { presence: () => ({ user_id: 'on-survivor' }) });
  a.subscribe(channel);
  const ch = b.subscribe(channel);
  let removedAt = 0;
  ch.bind('pusher:member_removed', () => (removedAt = Date.now()));
  await until(() => ch.members?.count === 2, 'both members seen', 10_000);
  const t0 = Date.now();
  victim.kill('SIGKILL');
  await until(() => removedAt > 0, 'member_removed', nodeTimeoutMs * 3);
  times.push(removedAt - t0);
  a.disconnect();
  b.disconnect();
  survivor.kill('SIGKILL');
  await survivor.exited;
}
await broker.stop();
times.sort((x, y) => x - y);
console.log(
  JSON.stringify({
    kind,
    heartbeatMs,
    nodeTimeoutMs,
    removed_after_ms: times,
    median_ms: times[Math.floor(times.length / 2)],
  }),
);
process.exit(0);
