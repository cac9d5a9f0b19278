/**
 * Bounds on what strangers can do to the mesh port before they have proved the secret.
 *
 * - Pre-auth connections: at most `maxPending` at once, and `maxPendingPerSource` from one
 *   address. `reservedForPeers` of the `maxPending` slots are only for addresses this node knows
 *   as peers (configured, found by DNS, or that completed a handshake before), so strangers
 *   filling every slot they can get never keep a real node from joining. Beyond that a
 *   connection is closed at once, before any HELLO (no nonce is shown).
 * - A stranger must send its HELLO within `helloMs` (a real node sends it the moment it
 *   connects), and prove the secret within the handshake's deadline.
 * - Failed proofs, malformed handshakes and timeouts from one address (what guessing the secret
 *   or holding slots takes): after `freeFailures` of them, that address is locked out for a
 *   while, 1 s doubling to 60 s with each further failure; its connections are closed at once
 *   meanwhile. A successful handshake from the address forgets its failures. So an online
 *   guesser gets a handful of tries a minute instead of thousands a second, and a silent one
 *   holds a slot for about a second, a few times a minute. Version mismatches, and timeouts of
 *   known peers, are logged the same way but lock nobody out: a real peer on a bad network, or
 *   one build behind during a rolling deploy, must be able to come back at once.
 * - Logging: one `warn` line when an episode of failures or refusals from an address starts
 *   (with the first reason), then nothing more until the episode ends (no failure for
 *   `episodeIdleMs`), when one `info` line sums it up. A flood cannot flood the log.
 *
 * Sources are addresses (IPv4-mapped IPv6 folded to IPv4) and IPv6 /64 blocks (one host has
 * 2^64 addresses to pick from: one block, one budget). State per source is bounded: at most
 * `maxSources` are tracked; the oldest is forgotten first.
 */
import { addressGroup } from '../../limits/address-group.js';
import type { Logger } from '../../log/logger.js';

export interface GuardLimits {
  maxPending: number;
  maxPendingPerSource: number;
  /** Of `maxPending`, the slots only known peers may take. */
  reservedForPeers: number;
  /** Time a stranger has to send its HELLO. */
  helloMs: number;
  freeFailures: number;
  lockoutBaseMs: number;
  lockoutMaxMs: number;
  episodeIdleMs: number;
  maxSources: number;
}

export const DEFAULT_GUARD_LIMITS: GuardLimits = {
  maxPending: 64,
  maxPendingPerSource: 8,
  reservedForPeers: 16,
  helloMs: 1_000,
  freeFailures: 3,
  lockoutBaseMs: 1_000,
  lockoutMaxMs: 60_000,
  episodeIdleMs: 30_000,
  maxSources: 4_096,
};

interface Source {
  pending: number;
  failures: number;
  lockedUntil: number;
  /** The current episode of failures/refusals, if any. */
  episode: { since: number; last: number; failures: number; refused: number } | null;
}

/** The source an address counts against: itself (IPv4), or its /64 (IPv6). */
export function sourceOf(address: string | undefined): string {
  return addressGroup(address ?? 'unknown');
}

export class PreAuthGuard {
  private readonly sources = new Map<string, Source>();
  private pending = 0;

  constructor(
    private readonly logger: Logger,
    private readonly limits: GuardLimits = DEFAULT_GUARD_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A new incoming connection from `source` (`known`: a peer this node knows): true to go on
   * with the handshake (call `settled` later).
   */
  admit(source: string, known = false): boolean {
    const s = this.get(source);
    const now = this.now();
    const slots = known ? this.limits.maxPending : this.limits.maxPending - this.limits.reservedForPeers;
    let reason: string | null = null;
    if (s.lockedUntil > now) reason = `locked out for ${s.lockedUntil - now} ms after ${s.failures} failed handshakes`;
    else if (this.pending >= slots)
      reason = `${this.pending} unauthenticated mesh connections already open${known ? '' : ` (${this.limits.reservedForPeers} more are kept for known peers)`}`;
    else if (s.pending >= this.limits.maxPendingPerSource)
      reason = `${s.pending} unauthenticated mesh connections already open from this address`;
    if (reason) {
      this.note(source, s, 'refused', reason);
      return false;
    }
    s.pending++;
    this.pending++;
    return true;
  }

  /**
   * An admitted connection left the pre-auth stage: authenticated (`ok`) or not; a `reason` is
   * logged (once per episode), and counts towards a lockout when `counts`.
   */
  settled(source: string, ok: boolean, reason?: string, counts = true): void {
    const s = this.get(source);
    s.pending = Math.max(0, s.pending - 1);
    this.pending = Math.max(0, this.pending - 1);
    if (ok) {
      s.failures = 0;
      s.lockedUntil = 0;
      this.endEpisode(source, s);
    } else if (reason !== undefined && counts) {
      this.failed(source, reason);
    } else if (reason !== undefined) {
      this.noted(source, reason);
    }
  }

  /** A handshake with `source` failed (either role): counts towards its lockout, logged once per episode. */
  failed(source: string, reason: string): void {
    const s = this.get(source);
    s.failures++;
    const over = s.failures - this.limits.freeFailures;
    if (over >= 0) {
      const ms = Math.min(this.limits.lockoutBaseMs * 2 ** Math.min(over, 20), this.limits.lockoutMaxMs);
      s.lockedUntil = this.now() + ms;
    }
    this.note(source, s, 'failures', reason);
  }

  /** A failure that is logged once per episode of `key` but counts towards no lockout (our own dials). */
  noted(key: string, reason: string): void {
    this.note(key, this.get(key), 'failures', reason);
  }

  /** Ends idle episodes (one summary line each) and forgets idle sources; about once a second. */
  tick(): void {
    const now = this.now();
    for (const [source, s] of this.sources) {
      if (s.episode && now - s.episode.last >= this.limits.episodeIdleMs) this.endEpisode(source, s);
      if (!s.episode && s.pending === 0 && s.lockedUntil <= now && s.failures === 0) this.sources.delete(source);
    }
  }

  /** Pre-auth connections open now (tests, status). */
  get pendingCount(): number {
    return this.pending;
  }

  private note(source: string, s: Source, kind: 'failures' | 'refused', reason: string): void {
    const now = this.now();
    if (!s.episode) {
      s.episode = { since: now, last: now, failures: 0, refused: 0 };
      this.logger.warn(
        'mesh handshake trouble from this address; further failures from it are counted, not logged, until it stops',
        {
          source,
          reason,
        },
      );
    }
    s.episode.last = now;
    s.episode[kind]++;
  }

  private endEpisode(source: string, s: Source): void {
    const e = s.episode;
    if (!e) return;
    s.episode = null;
    this.logger.info('mesh handshake trouble from this address ended', {
      source,
      failures: e.failures,
      refused: e.refused,
      ms: e.last - e.since,
    });
  }

  private get(source: string): Source {
    let s = this.sources.get(source);
    if (s) return s;
    if (this.sources.size >= this.limits.maxSources) {
      // Forget the oldest idle entry; when all are busy, the oldest one.
      let victim: string | undefined;
      for (const [key, v] of this.sources) {
        if (v.pending === 0) {
          victim = key;
          break;
        }
      }
      victim ??= this.sources.keys().next().value;
      if (victim !== undefined) this.sources.delete(victim);
    }
    s = { pending: 0, failures: 0, lockedUntil: 0, episode: null };
    this.sources.set(source, s);
    return s;
  }
}
