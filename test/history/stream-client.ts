/**
 * A real pusher-js client with the resume helper (client/src/resume.ts), connected through a
 * SwitchProxy so a test can cut its socket and choose the node it comes back to. It records the
 * numbers it receives on each channel and every `wiremesh:gap`.
 */
import { enableResume, type ResumeHandle } from '../../client/src/resume.js';
import { pusherClient, until, type PusherClient } from '../helpers/clients.js';
import { SwitchProxy } from '../helpers/switch-proxy.js';

export class StreamClient {
  readonly got = new Map<string, number[]>();
  readonly gaps = new Map<string, string[]>();
  readonly resumed = new Map<string, number>();
  private constructor(
    readonly proxy: SwitchProxy,
    readonly pusher: PusherClient,
    readonly resume: ResumeHandle,
  ) {}

  /** A client of the node listening on `port`; the HTTP API of that node signs its channels. */
  static async start(port: number): Promise<StreamClient> {
    const proxy = await new SwitchProxy(port).listen();
    const pusher = pusherClient(proxy.port);
    const resume = enableResume(pusher as never);
    return new StreamClient(proxy, pusher, resume);
  }

  subscribe(channel: string): void {
    const ch = this.pusher.subscribe(channel);
    this.got.set(channel, []);
    this.gaps.set(channel, []);
    ch.bind('n', (d: { n: number }) => this.got.get(channel)!.push(d.n));
    ch.bind('wiremesh:gap', (d: { reason: string }) => this.gaps.get(channel)!.push(d.reason));
    ch.bind('wiremesh:resumed', (d: { replayed: number }) =>
      this.resumed.set(channel, (this.resumed.get(channel) ?? 0) + d.replayed),
    );
  }

  async subscribed(): Promise<void> {
    await until(
      () => [...this.got.keys()].every((c) => this.pusher.channel(c)?.subscribed === true),
      'subscribed',
      10_000,
    );
  }

  private drops = 0;

  /** Cuts the socket; the next connection goes to `port` (the same node by default). */
  drop(port = this.proxy.target): void {
    this.proxy.target = port;
    this.proxy.drop();
    this.drops++;
  }

  /** Resolves once the client came back after its last drop and resubscribed everything. */
  async reconnected(timeoutMs = 10_000): Promise<void> {
    await until(
      () =>
        this.proxy.connections > this.drops &&
        this.pusher.connection.state === 'connected' &&
        [...this.got.keys()].every((c) => this.pusher.channel(c)?.subscribed === true),
      'reconnected and resubscribed',
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    this.pusher.disconnect();
    await this.proxy.close();
  }
}

/** Numbers 1..n exactly once, in order. */
export function missingOrExtra(got: number[], n: number): string | null {
  for (let i = 0; i < Math.max(got.length, n); i++) {
    if (got[i] !== i + 1) return `at index ${i}: expected ${i + 1}, got ${String(got[i])} (${got.length} received)`;
  }
  return null;
}

/** Strictly increasing (no duplicate, no reordering), whatever is missing. */
export function increasing(got: number[]): boolean {
  return got.every((n, i) => i === 0 || n > (got[i - 1] as number));
}
