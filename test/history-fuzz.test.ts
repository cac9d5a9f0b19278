/**
 * Seeded randomized test of resume against concurrent publishes: three in-process nodes (over the
 * memory bus with history on owner nodes, over Redis with history in Redis Streams, and over NATS
 * with history in JetStream), clients
 * whose sockets are cut at random moments and sent back to a random node, while batches of
 * numbered events keep arriving (the race between a replay being fetched and live events). Every
 * client must end with every number once, in order, and no gap event. Replay with FUZZ_SEED=<seed>.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSdk, sleep, until } from './helpers/clients.js';
import { startBroker } from './helpers/brokers.js';
import { startTestCluster } from './helpers/cluster.js';
import { fuzzSeed, Rng } from './helpers/fuzz-rng.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { HISTORY_APP } from './history/suite.js';
import { StreamClient, missingOrExtra } from './history/stream-client.js';

const ROUNDS = 3;

interface Nodes {
  ports: number[];
  /** Warnings and errors the nodes logged (shown when a round fails). */
  warnings(): string[];
  close(): Promise<void>;
}

const warnings = (nodes: TestServer[]): string[] =>
  nodes.flatMap((n) => n.logs.filter((l) => /"level":(40|50)/.test(l)).map((l) => l.slice(0, 400)));

/** Three in-process nodes over a real broker, history kept in it (Redis Streams, JetStream). */
async function overBroker(kind: 'redis' | 'nats'): Promise<Nodes> {
  const broker = await startBroker(kind);
  const cluster = {
    driver: kind,
    ...(kind === 'redis' ? { redis: { url: broker.url } } : { nats: { servers: [broker.url] } }),
    heartbeatMs: 100,
    nodeTimeoutMs: 500,
  };
  const nodes: TestServer[] = [];
  for (let i = 0; i < 3; i++)
    nodes.push(await startTestServer({ nodeId: `node${i}`, cluster, apps: [testApp(HISTORY_APP)], logLevel: 'warn' }));
  return {
    ports: nodes.map((n) => n.port),
    warnings: () => warnings(nodes),
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
      await broker.stop();
    },
  };
}

/** Three in-process nodes: over the memory bus (history in memory, owner nodes), or over a real Redis (Redis Streams) or NATS (JetStream). */
const SETUPS: Array<{ name: string; start: () => Promise<Nodes> }> = [
  {
    name: 'memory bus, history on owner nodes',
    start: async () => {
      const c = await startTestCluster(3, { apps: [testApp(HISTORY_APP)], logLevel: 'warn' });
      return { ports: c.nodes.map((n) => n.port), warnings: () => warnings(c.nodes), close: () => c.close() };
    },
  },
  { name: 'redis, history in Redis Streams', start: () => overBroker('redis') },
  { name: 'nats, history in JetStream', start: () => overBroker('nats') },
];

for (const setup of SETUPS)
  describe(`channel history: resume vs concurrent publishes (seeded), ${setup.name}`, () => {
    let c: Nodes;
    const clients: StreamClient[] = [];
    before(async () => {
      c = await setup.start();
      await sleep(300);
    });
    after(async () => {
      for (const cl of clients) await cl.close();
      await c.close();
    });

    const seed = fuzzSeed();
    for (let round = 0; round < ROUNDS; round++) {
      test(`round ${round} of seed ${seed}`, async (t) => {
        t.diagnostic(`FUZZ_SEED=${seed}`);
        const rng = new Rng(seed, round);
        const ports = c.ports;
        const channels = [0, 1].map((k) => `hist-fuzz-${seed}-${round}-${k}`);
        // One publishing node per channel: the order it sends in is the order the owner sequences.
        const sdks = channels.map(() => serverSdk(rng.pick(ports)));
        const mine: StreamClient[] = [];
        for (let i = 0; i < 3; i++) {
          const cl = await StreamClient.start(rng.pick(ports));
          for (const ch of channels) cl.subscribe(ch);
          mine.push(cl);
          clients.push(cl);
        }
        await Promise.all(mine.map((cl) => cl.subscribed()));

        const total = rng.int(150, 300);
        let next = 1;
        const reconnecting = new Set<StreamClient>();
        while (next <= total) {
          const action = rng.weighted([
            [6, 'batch'],
            [2, 'drop'],
            [2, 'pause'],
          ] as const);
          if (action === 'batch') {
            const size = Math.min(rng.int(1, 10), total - next + 1);
            const from = next;
            next += size;
            await Promise.all(
              channels.map((ch, k) =>
                sdks[k]!.triggerBatch(
                  Array.from({ length: size }, (_, j) => ({ channel: ch, name: 'n', data: { n: from + j } })),
                ),
              ),
            );
          } else if (action === 'drop') {
            const cl = rng.pick(mine);
            if (!reconnecting.has(cl)) {
              reconnecting.add(cl);
              cl.drop(rng.pick(ports));
              void cl.reconnected(20_000).finally(() => reconnecting.delete(cl));
            }
          } else {
            await sleep(rng.int(0, 15));
          }
        }
        await until(
          () => mine.every((cl) => channels.every((ch) => cl.got.get(ch)!.length >= total)),
          'every event on every client',
          20_000,
        ).catch((err: Error) => {
          const state = mine.flatMap((cl, i) =>
            channels.map(
              (ch) =>
                `client ${i} ${ch}: ${String(missingOrExtra(cl.got.get(ch)!, total))}, gaps ${cl.gaps.get(ch)!.join('/')}`,
            ),
          );
          const logged = c.warnings().slice(-10);
          throw new Error(
            `${err.message} (seed ${seed} round ${round}, ${total} events)\n${state.join('\n')}\n${logged.join('\n')}`,
          );
        });
        await sleep(200);
        const reconnects = mine.reduce((s, cl) => s + cl.proxy.connections - 1, 0);
        const replayed = mine.reduce((s, cl) => s + [...cl.resumed.values()].reduce((a, b) => a + b, 0), 0);
        t.diagnostic(`${total} events, ${reconnects} reconnects, ${replayed} events replayed`);
        assert.ok(reconnects > 0, 'some socket was cut');
        for (const [i, cl] of mine.entries()) {
          for (const ch of channels) {
            assert.equal(
              missingOrExtra(cl.got.get(ch)!, total),
              null,
              `seed ${seed} round ${round}: client ${i} on ${ch}`,
            );
            assert.deepEqual(cl.gaps.get(ch), [], `seed ${seed} round ${round}: client ${i} on ${ch}: no gap`);
          }
        }
      });
    }
  });
