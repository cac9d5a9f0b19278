/**
 * Channel history across nodes, one suite run on every way of running a cluster (memory, Redis,
 * NATS, mesh): real pusher-js clients with the resume helper, behind proxies that cut their
 * sockets and send them back to the same or another node, while a publisher sends numbered events.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSdk, sleep, until } from '../helpers/clients.js';
import type { ClusterHarness } from '../cluster/harness.js';
import { StreamClient, increasing, missingOrExtra } from './stream-client.js';

/** The app settings every harness of this suite starts its nodes with. */
export const HISTORY_APP = {
  history: { channels: ['hist-*'], maxEvents: 500, maxAgeMs: 60_000, resumeTimeoutMs: 3_000 },
};

export type HistoryHarnessFactory = (n: number) => Promise<ClusterHarness>;

const CHANNELS = 6;
const EVENTS = 150;

export function historySuite(name: string, factory: HistoryHarnessFactory): void {
  describe(`channel history: ${name}`, () => {
    let c: ClusterHarness;
    const clients: StreamClient[] = [];
    let seq = 0;
    const channels = (): string[] => {
      const run = `${++seq}-${Date.now().toString(36)}`;
      return Array.from({ length: CHANNELS }, (_, k) => `hist-${run}-${k}`);
    };
    /** One client per node, each on every channel. */
    async function clientsOn(nodes: number[], names: string[]): Promise<StreamClient[]> {
      const out: StreamClient[] = [];
      for (const node of nodes) {
        const cl = await StreamClient.start(c.ports[node] as number);
        for (const ch of names) cl.subscribe(ch);
        out.push(cl);
        clients.push(cl);
      }
      await Promise.all(out.map((cl) => cl.subscribed()));
      return out;
    }
    /** Publishes 1..EVENTS on every channel; channel k through node publishers[k % length]; `at(n)` runs before n. */
    async function publish(
      names: string[],
      publishers: number[],
      at: (n: number) => Promise<void> | void,
    ): Promise<void> {
      const sdks = publishers.map((p) => serverSdk(c.ports[p] as number));
      for (let n = 1; n <= EVENTS; n++) {
        await at(n);
        await Promise.all(names.map((ch, k) => sdks[k % sdks.length]!.trigger(ch, 'n', { n })));
        if (n % 10 === 0) await sleep(5);
      }
    }

    before(async () => {
      c = await factory(3);
    });
    after(async () => {
      for (const cl of clients) await cl.close();
      await c?.close();
    });

    test('sockets dropped mid-stream come back to the same node and to another one: every number once, in order', async () => {
      const names = channels();
      const [a, b, d] = await clientsOn([0, 1, 2], names);
      await publish(names, [0, 1, 2], async (n) => {
        if (n === 40) a!.drop(); // back to node 0
        if (n === 80) b!.drop(c.ports[2]); // node 1 → node 2
        if (n === 100) {
          await a!.reconnected();
          a!.drop(c.ports[1]); // again, node 0 → node 1
        }
      });
      for (const cl of [a!, b!, d!]) {
        await until(() => names.every((ch) => cl.got.get(ch)!.length >= EVENTS), 'every event', 20_000);
      }
      await sleep(300); // anything extra (a duplicate) would arrive now
      for (const [i, cl] of [a!, b!, d!].entries()) {
        for (const ch of names) {
          assert.equal(missingOrExtra(cl.got.get(ch)!, EVENTS), null, `client ${i} on ${ch}`);
          assert.deepEqual(cl.gaps.get(ch), [], `client ${i} on ${ch}: no gap`);
        }
      }
      assert.ok(
        [...a!.resumed.values()].some((r) => r > 0) && [...b!.resumed.values()].some((r) => r > 0),
        'missed events were replayed',
      );
    });

    test('a socket cut the moment its subscriptions are confirmed resumes from the start they named: nothing sent while it was away is lost', async () => {
      const names = channels().slice(0, 2);
      const cl = await StreamClient.start(c.ports[0] as number);
      clients.push(cl);
      let cut = false;
      for (const ch of names) {
        cl.subscribe(ch);
        // Cut in the confirmation's own handler: the client has nothing but the confirmation.
        cl.pusher.channel(ch)!.bind('pusher:subscription_succeeded', () => {
          if (cut || !names.every((n) => cl.pusher.channel(n)?.subscribed === true)) return;
          cut = true;
          cl.drop(c.ports[1]);
        });
      }
      await until(() => cut, 'the cut');
      await sleep(0);
      for (const ch of names) assert.ok(cl.resume.position(ch), `a position for ${ch} from its confirmation alone`);
      const sdk = serverSdk(c.ports[2] as number);
      for (let n = 1; n <= 20; n++) await Promise.all(names.map((ch) => sdk.trigger(ch, 'n', { n })));
      await cl.reconnected(15_000);
      for (let n = 21; n <= 30; n++) await Promise.all(names.map((ch) => sdk.trigger(ch, 'n', { n })));
      await until(() => names.every((ch) => cl.got.get(ch)!.length >= 30), 'every event', 15_000);
      await sleep(200);
      for (const ch of names) {
        assert.equal(missingOrExtra(cl.got.get(ch)!, 30), null, ch);
        assert.deepEqual(cl.gaps.get(ch), [], `${ch}: no gap`);
        // pusher-js waits about a second before it reconnects: what was sent meanwhile is replayed.
        assert.ok((cl.resumed.get(ch) ?? 0) > 0, `${ch}: what was sent while away was replayed`);
      }
    });

    test("a node killed under its clients: they resume on another node; where it held the channel's history they are told", async (t) => {
      const names = channels();
      const [a, b, victim] = await clientsOn([0, 1, 2], names);
      await publish(names, [0, 1], async (n) => {
        if (n === 50) {
          await c.kill(2);
          victim!.drop(c.ports[0]);
        }
      });
      // Events sent to the dead node before it was noticed are lost: the clients must be told, even
      // when no event follows (the publisher may finish before anyone noticed).
      const done = (cl: StreamClient, ch: string): boolean =>
        cl.got.get(ch)!.includes(EVENTS) || cl.gaps.get(ch)!.length > 0;
      const summary = (): string =>
        [a!, b!, victim!]
          .map((cl, i) =>
            names
              .map(
                (ch) =>
                  `client ${i} ${ch}: ${cl.got.get(ch)!.length} events, last ${String(cl.got.get(ch)!.at(-1))}, gaps ${cl.gaps.get(ch)!.join('/')}`,
              )
              .join('\n'),
          )
          .join('\n');
      await until(
        () => [a!, b!, victim!].every((cl) => names.every((ch) => done(cl, ch))),
        'the last event or a gap, everywhere',
        20_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${summary()}`);
      });
      await sleep(300);
      let exact = 0;
      for (const [i, cl] of [a!, b!, victim!].entries()) {
        for (const ch of names) {
          const got = cl.got.get(ch)!;
          assert.ok(increasing(got), `client ${i} on ${ch}: no duplicate, in order (${got.join(',')})`);
          if (cl.gaps.get(ch)!.length === 0) {
            assert.equal(
              missingOrExtra(got, EVENTS),
              null,
              `client ${i} on ${ch}: nothing missing without a gap event`,
            );
            if (cl === victim) exact++;
          }
        }
      }
      const told = [a!, b!, victim!].map((cl) => names.filter((ch) => cl.gaps.get(ch)!.length > 0).length);
      t.diagnostic(`channels with a gap event, per client: ${told.join(' ')}; resumed exactly by the victim: ${exact}`);
      // Node 2 held the history of about a third of the channels; the victim resumed the others exactly.
      assert.ok(exact > 0, 'the victim resumed at least one channel without a gap');
    });
  });
}
