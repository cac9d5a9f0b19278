/**
 * Seeded randomized test of resume against concurrent publishes: three in-process nodes, clients
 * whose sockets are cut at random moments and sent back to a random node, while batches of
 * numbered events keep arriving (the race between a replay being fetched and live events). Every
 * client must end with every number once, in order, and no gap event. Replay with FUZZ_SEED=<seed>.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSdk, sleep, until } from './helpers/clients.js';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { fuzzSeed, Rng } from './helpers/fuzz-rng.js';
import { testApp } from './helpers/server.js';
import { HISTORY_APP } from './history/suite.js';
import { StreamClient, missingOrExtra } from './history/stream-client.js';

const ROUNDS = 3;

describe('channel history: resume vs concurrent publishes (seeded)', () => {
  let c: TestCluster;
  const clients: StreamClient[] = [];
  before(async () => {
    c = await startTestCluster(3, { apps: [testApp(HISTORY_APP)], logLevel: 'warn' });
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
      const ports = c.nodes.map((n) => n.port);
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
      );
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
