/**
 * The upstreams of one app (its Laravel servers: `livewire.backends` and `livewire.dns` in the
 * config), nearest first, and which of them are healthy. The order: the answers of the DNS name
 * (re-resolved every 30 s; e.g. Fly.io's `top1.nearest.of.<app>.internal`), then the configured
 * `backends` as written. An upstream is down after a connection error or timeout (reported by the
 * caller: the tunnel's exchange, a fragment render; never for a client's bad input or a local failure such as EMFILE) or a failed health
 * check, and up again after a passing health check. Health checks run for every known upstream
 * every `healthIntervalMs`.
 */
import { lookup } from 'node:dns/promises';
import type { LivewireConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';

export const DNS_INTERVAL_MS = 30_000;

export interface UpstreamSetDeps {
  /** One health check: true when the upstream answered below 500. */
  probe(origin: string): Promise<boolean>;
  /** An upstream the DNS no longer names: its connections can go. */
  forget(origin: string): void;
  /** Addresses of a DNS name, in the resolver's order (default: node:dns `lookup`, A and AAAA). */
  resolve?(name: string): Promise<string[]>;
  logger: Logger;
}

async function resolveAll(name: string): Promise<string[]> {
  const answers = await lookup(name, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}

export class UpstreamSet {
  private dnsOrigins: string[] = [];
  private readonly down = new Set<string>();
  private firstResolve: Promise<void> | null = null;
  /** The first DNS answer (or its failure) is in: `healthyNow` can answer. */
  private resolved = false;
  /** What `healthyNow` returns, until the next change of `down` or of the DNS answer. */
  private healthyList: readonly string[] | null = null;
  private checking = false;
  private stopped = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: Pick<LivewireConfig, 'backends' | 'dns' | 'healthIntervalMs'>,
    private readonly deps: UpstreamSetDeps,
  ) {}

  start(): void {
    if (this.config.dns) {
      this.firstResolve = this.refresh().then(() => {
        this.resolved = true;
      });
      this.every(DNS_INTERVAL_MS, () => this.refresh());
    }
    this.every(this.config.healthIntervalMs, () => this.checkAll());
    this.background(this.checkAll());
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.splice(0)) clearInterval(t);
  }

  /** Every known upstream, nearest first. */
  all(): string[] {
    return [...new Set([...this.dnsOrigins, ...this.config.backends])];
  }

  /** The healthy upstreams, nearest first (waits for the first DNS answer). */
  async healthy(): Promise<string[]> {
    if (this.firstResolve) await this.firstResolve;
    return this.all().filter((origin) => !this.down.has(origin));
  }

  /**
   * The same without waiting: null only before the first DNS answer (then use `healthy`). Kept
   * between changes, so a request does not build the list again.
   */
  healthyNow(): readonly string[] | null {
    if (this.config.dns && !this.resolved) return null;
    return (this.healthyList ??= this.all().filter((origin) => !this.down.has(origin)));
  }

  isUp(origin: string): boolean {
    return !this.down.has(origin);
  }

  /** A request could not reach `origin` (connection error, timeout): skip it until a health check passes. */
  markDown(origin: string, reason: string): void {
    if (this.down.has(origin) || this.stopped) return;
    this.down.add(origin);
    this.healthyList = null;
    this.deps.logger.warn('livewire upstream down', { upstream: origin, reason });
  }

  private every(ms: number, task: () => Promise<void>): void {
    const t = setInterval(() => this.background(task()), ms);
    t.unref();
    this.timers.push(t);
  }

  private background(task: Promise<void>): void {
    task.catch((err: unknown) => this.deps.logger.error('livewire upstream check failed', { err }));
  }

  /** Never rejects: a failed lookup keeps the previous answer. */
  private async refresh(): Promise<void> {
    const dns = this.config.dns!;
    try {
      const addresses = await (this.deps.resolve ?? resolveAll)(dns.name);
      const origins = addresses.map((a) => `${dns.protocol}://${a.includes(':') ? `[${a}]` : a}:${dns.port}`);
      const next = [...new Set(origins)];
      for (const gone of this.dnsOrigins) {
        if (!next.includes(gone) && !this.config.backends.includes(gone)) {
          this.down.delete(gone);
          this.healthyList = null;
          this.deps.forget(gone);
        }
      }
      if (next.join() !== this.dnsOrigins.join())
        this.deps.logger.info('livewire upstreams resolved', { name: dns.name, upstreams: next });
      this.dnsOrigins = next;
      this.healthyList = null;
    } catch (err) {
      this.deps.logger.warn('livewire upstream DNS lookup failed', { name: dns.name, err });
    }
  }

  /** Never rejects. One round at a time: a slow round is not overlapped by the next. */
  private async checkAll(): Promise<void> {
    if (this.checking || this.stopped) return;
    this.checking = true;
    try {
      await Promise.all(
        this.all().map(async (origin) => {
          const ok = await this.deps.probe(origin).catch(() => false);
          if (this.stopped) return;
          if (ok && this.down.delete(origin)) {
            this.healthyList = null;
            this.deps.logger.info('livewire upstream up', { upstream: origin });
          }
          if (!ok) this.markDown(origin, 'health check failed');
        }),
      );
    } finally {
      this.checking = false;
    }
  }
}
