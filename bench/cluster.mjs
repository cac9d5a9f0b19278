#!/usr/bin/env node
/**
 * `npm run bench:cluster -- BACKEND [SCENARIO [harness flags]]`: two wiremesh nodes on BACKEND
 * (redis, nats or mesh) side by side with two Soketi 1.6.1 nodes on Redis, through the shared
 * harness's `compare` (A B A B …, fresh nodes and a private broker per run: bench/start-pair.sh).
 * Clients alternate between the nodes; events are published through node 2; both nodes and the
 * broker are metered.
 *
 *   npm run bench:cluster -- nats                                  # cluster fanout, 1,000 clients, max rate
 *   npm run bench:cluster -- mesh presence --clients 1000
 *   A=wiremesh:redis npm run bench:cluster -- nats                 # compare two wiremesh backends instead
 *
 * PUSHER_BENCH, ROUNDS as for bench/run.mjs; BENCH_PORT=6202: side A's first node (side B's is 100 above).
 */
import { join } from 'node:path';
import { compare, here } from './compare.mjs';

const [backend = 'redis', ...rest] = process.argv.slice(2);
if (!['redis', 'nats', 'mesh'].includes(backend)) {
  console.error('usage: npm run bench:cluster -- redis|nats|mesh [SCENARIO [flags]]');
  process.exit(2);
}
const scenario = rest.length > 0 ? rest : ['cluster', '--clients', '1000', '--events', '2000'];
const [aServer, aBroker] = (process.env.A ?? 'soketi:redis').split(':');

/** One side: two nodes on ports p, p+1 and a broker (or mesh listeners) on p+37 (and p+38). */
const side = (server, broker, p) => {
  const bp = p + 37;
  const meter = [p, p + 1, ...(broker === 'mesh' ? [] : [bp])].map((x) => `--server-port ${x}`).join(' ');
  return {
    name: `${server}-${broker}`,
    flags: `--ws-url ws://127.0.0.1:${p} --ws-url ws://127.0.0.1:${p + 1} --http-url http://127.0.0.1:${p + 1} ${meter}`,
    start: `${join(here, 'start-pair.sh')} ${server} ${broker} ${p} ${p + 1} ${bp}`,
  };
};
const base = Number(process.env.BENCH_PORT ?? 6202);
compare(side(aServer, aBroker, base), side('wiremesh', backend, base + 100), scenario);
