/**
 * Which addresses a mesh node dials, and when. The addresses are `cluster.mesh.peers` plus every
 * address the DNS name `cluster.mesh.dns` resolves to (A and AAAA, on `cluster.mesh.port`, or on
 * each port of a node's worker processes), re-resolved every 5 s.
 *
 * Guarantees:
 * - At most one connection attempt per address at a time; a new attempt only once the previous
 *   connection has closed.
 * - Reconnects with backoff: 100 ms doubling to 5 s, each delay randomised by ±25 %. The backoff
 *   starts over after a connection that carried traffic.
 * - An address that turns out to be this node is never dialed again; one that leads to a peer
 *   already connected (the pair dialed each other, or the peer has two addresses) is parked
 *   until that peer's connection closes.
 * - An address the DNS stops naming is no longer dialed (a connection open to it is left alone:
 *   the cluster's heartbeats decide whether that node is alive).
 * - A failed lookup keeps the previous answer. Nothing here throws into the caller.
 * - One answer gives at most `dns.maxAddresses` addresses (the first ones, as the resolver
 *   ordered them); a longer one is cut and logged once with its count and a short sample, and
 *   a change of the answer is logged with its count and a sample, never the whole list.
 */
import { lookup } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../log/logger.js';
import { parsePeer, targetOf, type PeerAddress } from '../peer-address.js';
import type { CloseCause } from './mesh-connection.js';

export const DNS_INTERVAL_MS = 5_000;
/** Addresses named in a log line about a DNS answer. */
const SAMPLE = 8;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 5_000;

export type DialTarget = PeerAddress;

/** How one connection attempt ended. */
export interface DialOutcome {
  cause: CloseCause;
  /** The id the other end gave in its HELLO, if it got that far. */
  peerId?: string;
  /** True if the connection carried traffic. */
  wasActive: boolean;
}

export interface DialerDeps {
  peers: readonly string[];
  /** A name whose addresses are peers, each dialed on every one of `ports`. */
  dns?: { name: string; ports: readonly number[]; maxAddresses: number };
  /** Opens a connection to `target`; resolves once it has closed. Never rejects. */
  open(target: DialTarget): Promise<DialOutcome>;
  /** True while the pair with `peerId` has a connection. */
  connected(peerId: string): boolean;
  /** Addresses of a DNS name (default: node:dns `lookup`, A and AAAA). */
  resolve?(name: string): Promise<string[]>;
  logger: Logger;
}

interface Entry {
  target: DialTarget;
  abort: AbortController;
  /** Set while parked: the peer this address leads to (or `self`). */
  parkedOn: string | null;
  wake: (() => void) | null;
  loop: Promise<void>;
}

export function backoff(attempt: number): number {
  const ms = Math.min(BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16), BACKOFF_MAX_MS);
  return Math.round(ms * (0.75 + Math.random() / 2));
}

async function resolveAll(name: string): Promise<string[]> {
  const answers = await lookup(name, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}

export class Dialer {
  private readonly entries = new Map<string, Entry>();
  private readonly stop = new AbortController();
  private dnsKeys = new Set<string>();
  private dnsLoop: Promise<void> | null = null;
  /** Connection attempts made (status and tests). */
  attempts = 0;

  constructor(private readonly deps: DialerDeps) {}

  start(): void {
    for (const peer of this.deps.peers) this.add(parsePeer(peer));
    if (this.deps.dns) this.dnsLoop = this.watchDns(this.deps.dns);
  }

  /** Whether some address dialed (configured or from DNS) maps to `source` by `sourceOf`. */
  dials(source: string, sourceOf: (host: string) => string): boolean {
    for (const entry of this.entries.values()) if (sourceOf(entry.target.host) === source) return true;
    return false;
  }

  /** The peer's connection closed: dial again the addresses parked on it. */
  peerGone(peerId: string): void {
    for (const entry of this.entries.values()) {
      if (entry.parkedOn === peerId) entry.wake?.();
    }
  }

  /** Stops dialing; resolves once every attempt in progress has ended. */
  async close(): Promise<void> {
    this.stop.abort();
    for (const entry of this.entries.values()) entry.abort.abort();
    await Promise.all([this.dnsLoop, ...[...this.entries.values()].map((e) => e.loop)]);
    this.entries.clear();
  }

  private add(target: DialTarget): void {
    if (this.entries.has(target.key) || this.stop.signal.aborted) return;
    const abort = new AbortController();
    const entry: Entry = { target, abort, parkedOn: null, wake: null, loop: Promise.resolve() };
    entry.loop = this.run(entry).catch((err: unknown) =>
      this.deps.logger.error('mesh dial loop failed', { peer: target.key, err }),
    );
    this.entries.set(target.key, entry);
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    entry.abort.abort();
  }

  private async run(entry: Entry): Promise<void> {
    const { signal } = entry.abort;
    let failures = 0;
    let reported = false;
    while (!signal.aborted) {
      this.attempts++;
      const outcome = await this.deps.open(entry.target);
      if (signal.aborted) return;
      if (outcome.cause === 'self' || outcome.cause === 'duplicate') {
        const on = outcome.cause === 'self' ? 'self' : outcome.peerId!;
        this.deps.logger.debug(
          outcome.cause === 'self'
            ? 'mesh address is this node: not dialing it'
            : 'mesh address leads to a peer already connected: parked',
          { peer: entry.target.key },
        );
        if (!(await this.park(entry, on))) return;
        failures = 0;
      } else if (outcome.wasActive) {
        failures = 0;
        reported = false;
      } else if (!reported && failures >= 2) {
        reported = true;
        this.deps.logger.info('mesh peer unreachable; retrying', { peer: entry.target.key, cause: outcome.cause });
      }
      try {
        await sleep(backoff(failures++), undefined, { signal });
      } catch {
        return; // aborted
      }
    }
  }

  /** Waits until the peer `on` is gone (never for `self`); false when aborted meanwhile. */
  private async park(entry: Entry, on: string): Promise<boolean> {
    const { signal } = entry.abort;
    if (on !== 'self' && !this.deps.connected(on)) return !signal.aborted; // gone already
    let wake = (): void => {};
    const woken = new Promise<void>((resolve) => (wake = resolve));
    entry.parkedOn = on;
    entry.wake = wake;
    signal.addEventListener('abort', wake, { once: true });
    await woken;
    signal.removeEventListener('abort', wake);
    entry.parkedOn = null;
    entry.wake = null;
    return !signal.aborted;
  }

  private async watchDns(dns: NonNullable<DialerDeps['dns']>): Promise<void> {
    const resolve = this.deps.resolve ?? resolveAll;
    const { signal } = this.stop;
    let truncated = false;
    while (!signal.aborted) {
      try {
        const answer = await resolve(dns.name);
        if (answer.length > dns.maxAddresses && !truncated) {
          this.deps.logger.warn('mesh peer DNS answer has too many addresses; dialing only the first ones', {
            name: dns.name,
            addresses: answer.length,
            max: dns.maxAddresses,
            sample: answer.slice(0, SAMPLE),
          });
        }
        truncated = answer.length > dns.maxAddresses;
        const keys = new Set<string>();
        for (const address of answer.slice(0, dns.maxAddresses)) {
          for (const port of dns.ports) {
            const target = targetOf(address, port);
            keys.add(target.key);
            if (!signal.aborted) this.add(target);
          }
        }
        const statics = new Set(this.deps.peers.map((p) => parsePeer(p).key));
        for (const gone of this.dnsKeys) if (!keys.has(gone) && !statics.has(gone)) this.remove(gone);
        if ([...keys].sort().join() !== [...this.dnsKeys].sort().join()) {
          this.deps.logger.info('mesh peers resolved', {
            name: dns.name,
            count: keys.size,
            peers: [...keys].slice(0, SAMPLE),
          });
        }
        this.dnsKeys = keys;
      } catch (err) {
        this.deps.logger.warn('mesh peer DNS lookup failed; keeping the previous answer', { name: dns.name, err });
      }
      try {
        await sleep(DNS_INTERVAL_MS, undefined, { signal });
      } catch {
        return; // aborted
      }
    }
  }
}
