/**
 * A harness for chaos tests on channel history: numbered events published at a steady rate
 * through one node's HTTP API (the `pusher` server SDK, one request at a time so the order the
 * API accepted them in is the order they were sent in), real pusher-js clients with the resume
 * helper recording what they receive and when, and an audit of what they got against what the API
 * accepted: lost, duplicated, out of order.
 *
 * The nodes are real processes (test/cluster/processes.ts `processCluster`: `kill(i)` is kill -9,
 * `stop(i)` SIGTERM, `restart(i)` the same node again); the clients are test/history/stream-client.ts
 * `StreamClient`s behind a proxy that decides which node they reconnect to.
 *
 *   const c = await processCluster('redis', {}, { history: {...} })(3, 'http://127.0.0.1:9/hook');
 *   const live = await ChaosClient.start(c.ports[0], 'hist-chaos');
 *   const pub = new SteadyPublisher(c.ports[0], 'hist-chaos', 100).start();
 *   await pub.reach(100); await c.kill(2); ...; await pub.stop();
 *   await live.settle(pub); assert.deepEqual(audit(live.numbers(), pub), CLEAN);
 */
import type Pusher from 'pusher';
import { StreamClient } from '../history/stream-client.js';
import { serverSdk, sleep, until } from './clients.js';

/** The event name the numbered events are published under (`{ n }` as data). */
export const EVENT = 'n';

/** One publish the HTTP API answered. */
export interface Publish {
  n: number;
  /** When the request was sent and answered (ms, `performance.now()`). */
  sentAt: number;
  doneAt: number;
  /** The HTTP status, or 0 when no answer came (connection refused, timeout). */
  status: number;
}

/**
 * Publishes `{ n: 1, 2, 3, … }` on one channel through one node's HTTP API at `perSecond`, one
 * request at a time (a slow answer delays the next one rather than reordering them).
 */
export class SteadyPublisher {
  readonly publishes: Publish[] = [];
  private readonly sdk: Pusher;
  private running: Promise<void> | null = null;
  private stopping = false;
  private next = 1;

  constructor(
    port: number,
    readonly channel: string,
    readonly perSecond: number,
    /** Stops by itself after this many events (default: until `stop()`). */
    readonly limit = Infinity,
  ) {
    this.sdk = serverSdk(port, { timeout: 5_000 });
  }

  start(): this {
    this.running ??= this.run();
    return this;
  }

  /** Numbers the API accepted (2xx), in order. */
  get accepted(): number[] {
    return this.publishes.filter((p) => p.status >= 200 && p.status < 300).map((p) => p.n);
  }

  /** Numbers the API refused or did not answer: they may or may not have been delivered. */
  get refused(): number[] {
    return this.publishes.filter((p) => p.status < 200 || p.status >= 300).map((p) => p.n);
  }

  /** The last number sent (answered or not). */
  get sent(): number {
    return this.next - 1;
  }

  /** Resolves once `n` events were answered. */
  async reach(n: number, timeoutMs = 30_000): Promise<void> {
    await until(() => this.publishes.length >= n, `${n} events published`, timeoutMs);
  }

  /** Stops publishing; resolves once the last request was answered. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async run(): Promise<void> {
    const interval = 1_000 / this.perSecond;
    const t0 = performance.now();
    while (!this.stopping && this.next <= this.limit) {
      const n = this.next++;
      const sentAt = performance.now();
      let status = 0;
      try {
        const res = await this.sdk.trigger(this.channel, EVENT, { n });
        status = res.status;
      } catch (err) {
        status = (err as { status?: number }).status ?? 0;
      }
      this.publishes.push({ n, sentAt, doneAt: performance.now(), status });
      const wait = t0 + n * interval - performance.now();
      if (wait > 0) await sleep(wait);
    }
  }
}

/** A pusher-js client (with the resume helper) on one channel, recording each number and when it came. */
export class ChaosClient {
  /** Every `n` received, in order, with the time it came (`performance.now()`). */
  readonly received: Array<{ n: number; at: number }> = [];

  private constructor(
    readonly client: StreamClient,
    readonly channel: string,
  ) {}

  static async start(port: number, channel: string): Promise<ChaosClient> {
    const client = await StreamClient.start(port);
    client.subscribe(channel);
    const c = new ChaosClient(client, channel);
    client.pusher
      .channel(channel)
      .bind(EVENT, (d: { n: number }) => c.received.push({ n: d.n, at: performance.now() }));
    await client.subscribed();
    return c;
  }

  numbers(): number[] {
    return this.received.map((r) => r.n);
  }

  /** `wiremesh:gap` reasons received on the channel. */
  get gaps(): string[] {
    return this.client.gaps.get(this.channel) ?? [];
  }

  /** Events replayed to it by resumes (from `wiremesh:resumed`). */
  get replayed(): number {
    return this.client.resumed.get(this.channel) ?? 0;
  }

  /** The longest time (ms) between two events received from `t` on (how long delivery stalled). */
  longestPause(t = 0): number {
    let longest = 0;
    let prev: number | null = null;
    for (const r of this.received) {
      if (r.at < t) continue;
      if (prev !== null) longest = Math.max(longest, r.at - prev);
      prev = r.at;
    }
    return Math.round(longest);
  }

  /** The first event received at or after `t` (`performance.now()`), if any. */
  firstAfter(t: number): { n: number; at: number } | undefined {
    return this.received.find((r) => r.at >= t);
  }

  /** The next connections go to `port`; the current one is left alone (a node stop cuts it). */
  retarget(port: number): void {
    this.client.proxy.target = port;
  }

  /** Cuts the socket now; the client reconnects to `port` (its current node by default). */
  drop(port?: number): void {
    this.client.drop(port);
  }

  /** Waits until every accepted event arrived (or `timeoutMs`), then a little more for duplicates. */
  async settle(pub: SteadyPublisher, timeoutMs = 20_000): Promise<void> {
    const want = new Set(pub.accepted);
    await until(
      () => {
        const got = new Set(this.numbers());
        for (const n of want) if (!got.has(n)) return false;
        return true;
      },
      `every accepted event on ${this.channel}`,
      timeoutMs,
    ).catch(() => undefined); // the audit says what is missing
    await sleep(300);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export interface Audit {
  /** Accepted by the API, never received. */
  lost: number[];
  /** Received more than once. */
  duplicates: number[];
  /** Places where a number came after a larger one. */
  outOfOrder: number;
  /** Received, but never published (must stay empty). */
  unknown: number[];
}

export const CLEAN: Audit = { lost: [], duplicates: [], outOfOrder: 0, unknown: [] };

/**
 * What a client received against what the API accepted. Refused publishes may be missing or
 * present (the store may have kept one whose answer was lost), but never twice.
 */
export function audit(got: readonly number[], pub: Pick<SteadyPublisher, 'accepted' | 'sent'>): Audit {
  const seen = new Map<number, number>();
  let outOfOrder = 0;
  got.forEach((n, i) => {
    seen.set(n, (seen.get(n) ?? 0) + 1);
    if (i > 0 && n <= (got[i - 1] as number)) outOfOrder++;
  });
  return {
    lost: pub.accepted.filter((n) => !seen.has(n)),
    duplicates: [...seen].filter(([, count]) => count > 1).map(([n]) => n),
    outOfOrder,
    unknown: [...seen.keys()].filter((n) => n < 1 || n > pub.sent),
  };
}

/** A short summary of an audit for assertion messages (the first few numbers of each list). */
export function describeAudit(a: Audit): string {
  const few = (xs: number[]): string => `${xs.length}${xs.length ? ` (${xs.slice(0, 10).join(',')}…)` : ''}`;
  return `lost ${few(a.lost)}, duplicates ${few(a.duplicates)}, out of order ${a.outOfOrder}, unknown ${few(a.unknown)}`;
}

/** API latency percentiles of the accepted publishes (ms). */
export function latencies(pub: SteadyPublisher): { p50: number; p99: number; max: number } {
  const ms = pub.publishes
    .filter((p) => p.status >= 200 && p.status < 300)
    .map((p) => p.doneAt - p.sentAt)
    .sort((a, b) => a - b);
  const at = (q: number): number => Math.round((ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0) * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}
