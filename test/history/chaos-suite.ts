/**
 * Chaos on channel history, one suite for every driver whose history survives a node (redis and
 * nats with the broker store; the mesh once its streams are replicated): three real `wiremesh start`
 * processes, numbered events at a steady rate through node 0's HTTP API, real pusher-js clients
 * with the resume helper on every node, then kill -9 of node 2 and SIGTERM of node 1.
 *
 * - The client on node 0 stays live throughout: every accepted event once, in order, no gap.
 * - The clients of nodes 2 and 1 reconnect to the surviving nodes and resume there: every
 *   accepted event once, in order, no gap.
 * - A rolling restart (SIGTERM and start again, node by node): every client, moved to the next
 *   node each time its own stops, gets every accepted event once, in order, no gap.
 * - A full restart of the cluster: a client away during it resumes afterwards and gets what it
 *   missed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChaosClient, CLEAN, SteadyPublisher, audit, describeAudit, latencies } from '../helpers/chaos.js';
import type { ProcessHarness } from '../cluster/processes.js';

/** The app settings of the suite: enough history for the whole run. */
export const CHAOS_APP = {
  history: { channels: ['hist-*'], maxEvents: 2_000, maxAgeMs: 120_000, resumeTimeoutMs: 3_000 },
};

const RATE = 100;

export function chaosSuite(name: string, factory: (n: number) => Promise<ProcessHarness>): void {
  describe(`channel history under chaos: ${name}`, () => {
    let c: ProcessHarness;
    const clients: ChaosClient[] = [];
    const start = async (node: number, channel: string): Promise<ChaosClient> => {
      const cl = await ChaosClient.start(c.ports[node] as number, channel);
      clients.push(cl);
      return cl;
    };

    before(async () => {
      c = await factory(3);
    });
    after(async () => {
      for (const cl of clients) await cl.close();
      await c?.close();
    });

    test('kill -9 of one node, then SIGTERM of another, under a steady publisher: 0 lost, 0 duplicated, in order, everywhere', async (t) => {
      const channel = `hist-chaos-${Date.now().toString(36)}`;
      const [live, graceful, victim] = [await start(0, channel), await start(1, channel), await start(2, channel)];
      const pub = new SteadyPublisher(c.ports[0] as number, channel, RATE).start();
      try {
        await pub.reach(100);
        victim!.retarget(c.ports[1] as number);
        const killedAt = performance.now();
        await c.kill(2);
        await pub.reach(250);
        graceful!.retarget(c.ports[0] as number);
        victim!.retarget(c.ports[0] as number);
        const stoppedAt = performance.now();
        await c.stop(1);
        await pub.reach(400);
        await pub.stop();
        for (const cl of [live!, graceful!, victim!]) await cl.settle(pub);

        const firstAfterKill = victim!.firstAfter(killedAt);
        const firstAfterStop = graceful!.firstAfter(stoppedAt);
        t.diagnostic(
          `accepted ${pub.accepted.length}/${pub.sent}; API latency ${JSON.stringify(latencies(pub))} ms; ` +
            `kill -9 to the victim's next event ${firstAfterKill ? Math.round(firstAfterKill.at - killedAt) : '-'} ms, ` +
            `SIGTERM to the next event of its client ${firstAfterStop ? Math.round(firstAfterStop.at - stoppedAt) : '-'} ms; ` +
            `replayed: victim ${victim!.replayed}, graceful ${graceful!.replayed}; ` +
            `longest pause of the live client from the kill on ${live!.longestPause(killedAt)} ms`,
        );
        assert.equal(pub.refused.length, 0, `refused publishes: ${pub.refused.join(',')}`);
        for (const [who, cl] of [
          ['live on node 0', live!],
          ['node 1 (SIGTERM), resumed on node 0', graceful!],
          ['node 2 (kill -9), resumed on node 1 then node 0', victim!],
        ] as const) {
          const a = audit(cl.numbers(), pub);
          assert.deepEqual(a, CLEAN, `${who}: ${describeAudit(a)}`);
          assert.deepEqual(cl.gaps, [], `${who}: no gap`);
        }
        assert.ok(victim!.replayed > 0 || graceful!.replayed > 0, 'a resume replayed what its client missed');
      } finally {
        await pub.stop();
      }
    });

    test('a rolling restart of the three nodes under a steady publisher: 0 lost, 0 duplicated, in order', async (t) => {
      for (const i of [1, 2]) await c.restart(i); // back from the first test
      const channel = `hist-rolling-${Date.now().toString(36)}`;
      const onNode = [await start(0, channel), await start(1, channel), await start(2, channel)];
      const pub = new SteadyPublisher(c.ports[0] as number, channel, RATE).start();
      try {
        await pub.reach(50);
        for (const i of [2, 1, 0]) {
          // The node's clients come back on the next node; the node itself comes back on its ports.
          onNode[i]!.retarget(c.ports[(i + 1) % 3] as number);
          await c.stop(i);
          await c.restart(i);
          await pub.reach(pub.publishes.length + 50);
        }
        await pub.stop();
        for (const cl of onNode) await cl.settle(pub);
        t.diagnostic(`accepted ${pub.accepted.length}/${pub.sent} (refused while node 0, the API's, restarted)`);
        for (const [i, cl] of onNode.entries()) {
          const a = audit(cl.numbers(), pub);
          assert.deepEqual(a, CLEAN, `client of node ${i}: ${describeAudit(a)}`);
          assert.deepEqual(cl.gaps, [], `client of node ${i}: no gap`);
        }
      } finally {
        await pub.stop();
      }
    });

    test('a full restart of the cluster: a client away during it resumes afterwards with what it missed', async () => {
      const channel = `hist-restart-${Date.now().toString(36)}`;
      const away = await start(1, channel);
      const pub = new SteadyPublisher(c.ports[0] as number, channel, RATE, 150).start();
      await pub.reach(50);
      away.client.pusher.disconnect();
      await pub.reach(150);
      await pub.stop();
      assert.equal(pub.refused.length, 0);
      for (const i of [0, 1, 2]) await c.stop(i);
      for (const i of [0, 1, 2]) await c.restart(i);
      away.retarget(c.ports[2] as number);
      away.client.pusher.connect();
      await away.settle(pub);
      const a = audit(away.numbers(), pub);
      assert.deepEqual(a, CLEAN, describeAudit(a));
      assert.deepEqual(away.gaps, []);
      assert.ok(away.replayed > 0, 'the missed events were replayed');
    });
  });
}
