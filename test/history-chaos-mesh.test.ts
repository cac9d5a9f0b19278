/**
 * Chaos on the mesh, with channel history: three `wiremesh start` processes, a pusher-js client
 * with the resume helper on each (through a SwitchProxy, so a client whose node goes comes back on
 * a surviving one), numbered events at ~100/s through one node's HTTP API, one at a time as a
 * publisher would. Every event the API accepted (200) must reach every client exactly once, in
 * order: live on the node that never stops, by resume (replay, then live) on the others.
 *
 * - A crash, then a deploy: kill -9 of the channel's owner, then SIGTERM of the node that owns it
 *   next. The crash is found from the closed mesh connection, the next node sequences on from its
 *   copy in the same epoch, the stopping one hands its streams over.
 * - A rolling restart of all three nodes, one by one, while publishing through a node that stays:
 *   no loss, no duplicate; a `reset` may be reported when a node that came back got an event of a
 *   channel it owns again before the stream was handed back to it.
 *
 * Each run logs its figures (t.diagnostic): the longest pause in live delivery after the kill.
 */
import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import Pusher from 'pusher';
import { Membership } from '../src/cluster/membership.js';
import { topicOf } from '../src/core/topics.js';
import { processCluster, type ProcessHarness } from './cluster/processes.js';
import { serverSdk, sleep, until } from './helpers/clients.js';
import { APP } from './helpers/server.js';
import { HISTORY_APP } from './history/suite.js';
import { StreamClient } from './history/stream-client.js';

const NODES = ['node0', 'node1', 'node2'];
const RATE_MS = 10;

/** A history channel (`hist-*`) whose owner is `order[0]`, then `order[1]`, then `order[2]`. */
function channelRankedAs(order: readonly string[]): string {
  const among = (nodes: readonly string[]): Membership => {
    const m = new Membership(nodes[0] as string, { nodeTimeoutMs: 1, forgetAfterMs: 1 });
    for (const n of nodes.slice(1)) m.heartbeat(n, {});
    return m;
  };
  const all = among(NODES);
  const rest = among(order.slice(1));
  for (let i = 0; ; i++) {
    const channel = `hist-chaos-${Date.now().toString(36)}-${i}`;
    const topic = topicOf(APP.id, channel);
    if (all.owner(topic) === order[0] && rest.owner(topic) === order[1]) return channel;
  }
}

/** Publishes 1, 2, 3… one at a time every RATE_MS through `via()` until stopped; records what was accepted. */
class Publisher {
  readonly accepted: number[] = [];
  readonly refused: number[] = [];
  readonly sentAt = new Map<number, number>();
  private stopped = false;
  private n = 0;
  readonly done: Promise<void>;

  constructor(
    private readonly channel: string,
    private via: Pusher,
  ) {
    this.done = this.run();
  }

  through(sdk: Pusher): void {
    this.via = sdk;
  }

  get count(): number {
    return this.n;
  }

  async upTo(n: number): Promise<void> {
    await until(() => this.n >= n, `${n} events published`, n * RATE_MS * 10 + 10_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const n = ++this.n;
      const started = Date.now();
      this.sentAt.set(n, started);
      try {
        await this.via.trigger(this.channel, 'n', { n });
        this.accepted.push(n);
      } catch {
        this.refused.push(n);
      }
      await sleep(Math.max(0, RATE_MS - (Date.now() - started)));
    }
  }
}

/** Whether `got` is exactly `accepted` (refused events may appear: a 500 may still have been kept). */
function exactlyOnce(got: readonly number[], accepted: readonly number[], refused: readonly number[]): string | null {
  const ok = new Set([...accepted, ...refused]);
  const wanted = new Set(accepted);
  const seen = new Set<number>();
  let last = 0;
  for (const n of got) {
    if (seen.has(n)) return `${n} twice`;
    if (!ok.has(n)) return `${n} was never published`;
    if (n < last) return `${n} after ${last}`;
    seen.add(n);
    last = n;
  }
  const lost = [...wanted].filter((n) => !seen.has(n));
  return lost.length === 0 ? null : `lost ${lost.length} accepted: ${lost.slice(0, 20).join(',')}`;
}

/** Arrival times of `channel`'s events at `client`. */
function arrivals(client: StreamClient, channel: string): Map<number, number> {
  const at = new Map<number, number>();
  client.pusher.channel(channel)!.bind('n', (d: { n: number }) => at.set(d.n, Date.now()));
  return at;
}

/** The longest time without a delivery at a client, from `from` on (the figure after a kill). */
function longestPause(at: Map<number, number>, from: number): number {
  const times = [...at.values(), from].filter((t) => t >= from).sort((a, b) => a - b);
  let worst = 0;
  for (let i = 1; i < times.length; i++) worst = Math.max(worst, (times[i] as number) - (times[i - 1] as number));
  return worst;
}

describe('channel history on mesh: crashes and deploys lose no accepted event', () => {
  let c: ProcessHarness | undefined;
  const clients: StreamClient[] = [];
  after(async () => {
    for (const cl of clients.splice(0)) await cl.close();
    await c?.close();
  });

  async function clientsOn(channel: string, ports: number[]): Promise<StreamClient[]> {
    const out: StreamClient[] = [];
    for (const port of ports) {
      const cl = await StreamClient.start(port);
      clients.push(cl);
      cl.subscribe(channel);
      out.push(cl);
    }
    for (const cl of out) await cl.subscribed();
    await sleep(300); // each resume helper has its starting position
    return out;
  }

  test('kill -9 of the owner, then SIGTERM of the next owner, while publishing through the third', async (t: TestContext) => {
    c = await processCluster('mesh', {}, HISTORY_APP)(3, 'http://127.0.0.1:9/hook');
    const ports = c.ports;
    const channel = channelRankedAs(['node2', 'node1', 'node0']);
    const [live, deployed, crashed] = await clientsOn(channel, [ports[0]!, ports[1]!, ports[2]!]);
    const liveAt = arrivals(live!, channel);
    const pub = new Publisher(channel, serverSdk(ports[0]!));

    await pub.upTo(150);
    crashed!.proxy.target = ports[0]!;
    const killedAt = Date.now();
    await c.kill(2);
    const publishedAtKill = pub.count;
    await pub.upTo(publishedAtKill + 150);
    deployed!.proxy.target = ports[0]!;
    await c.stop(1);
    await pub.upTo(pub.count + 100);
    await pub.stop();

    const last = pub.accepted.at(-1)!;
    await until(() => live!.got.get(channel)!.includes(last), 'the last event live', 10_000);
    await crashed!.reconnected(15_000);
    await deployed!.reconnected(15_000);
    await until(
      () => [crashed!, deployed!].every((cl) => cl.got.get(channel)!.includes(last)),
      'the last event on the moved clients',
      10_000,
    );
    await sleep(300);

    t.diagnostic(
      `published ${pub.count}, accepted ${pub.accepted.length}, refused ${pub.refused.length}; ` +
        `longest pause in live delivery after the kill: ${longestPause(liveAt, killedAt)} ms`,
    );
    for (const [name, cl] of [
      ['live on node0', live],
      ['moved from node1 (SIGTERM)', deployed],
      ['moved from node2 (kill -9)', crashed],
    ] as const) {
      t.diagnostic(`${name}: got ${cl!.got.get(channel)!.length}, gaps ${JSON.stringify(cl!.gaps.get(channel))}`);
      assert.equal(exactlyOnce(cl!.got.get(channel)!, pub.accepted, pub.refused), null, name);
      assert.deepEqual(cl!.gaps.get(channel), [], `${name}: no gap (the next node had a copy)`);
    }
    assert.deepEqual(pub.refused, [], 'node0 never stopped: it refused nothing');
    await c.close();
    c = undefined;
  });

  test('a rolling restart of all three nodes while publishing', async (t: TestContext) => {
    c = await processCluster('mesh', {}, HISTORY_APP)(3, 'http://127.0.0.1:9/hook');
    const ports = c.ports;
    const channel = channelRankedAs(['node0', 'node1', 'node2']);
    const on = await clientsOn(channel, [ports[0]!, ports[1]!, ports[2]!]);
    const pub = new Publisher(channel, serverSdk(ports[1]!));
    await pub.upTo(100);
    for (let i = 0; i < 3; i++) {
      const elsewhere = ports[(i + 1) % 3]!;
      pub.through(serverSdk(elsewhere));
      on[i]!.proxy.target = elsewhere;
      await c.stop(i);
      await c.restart(i);
      await pub.upTo(pub.count + 100);
      on[i]!.proxy.target = ports[i]!;
    }
    await pub.stop();
    const last = pub.accepted.at(-1)!;
    await until(() => on.every((cl) => cl.got.get(channel)!.includes(last)), 'the last event everywhere', 15_000);
    await sleep(300);
    t.diagnostic(`published ${pub.count}, accepted ${pub.accepted.length}, refused ${pub.refused.length}`);
    on.forEach((cl, i) => {
      t.diagnostic(`client ${i}: got ${cl.got.get(channel)!.length}, gaps ${JSON.stringify(cl.gaps.get(channel))}`);
      assert.equal(exactlyOnce(cl.got.get(channel)!, pub.accepted, pub.refused), null, `client ${i}`);
      // A node that comes back takes its channels over from the node that held them meanwhile; an
      // event that reaches it before that hand-over makes it start a new epoch: a reset, not a loss.
      assert.ok(
        cl.gaps.get(channel)!.every((g) => g === 'reset'),
        `client ${i}: no gap but a reset (${cl.gaps.get(channel)!.join()})`,
      );
    });
  });
});
