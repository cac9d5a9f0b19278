/**
 * The send queue of one endpoint of one app: one request in flight at a time.
 *
 * Order: batches go out in the order they were made while the endpoint answers. A batch that
 * fails moves to the retry list, and from then on new batches go first: after an outage the
 * endpoint receives what happened now within about `backoff.baseMs` of coming back, not after
 * the old batches' backoff (Pusher promises no order across batches either). Retried batches go
 * oldest first, once the endpoint answers again or when the backoff (exponential, per endpoint,
 * up to `backoff.maxMs`) says so; each is given up `retryForMs` after its first attempt.
 *
 * While the endpoint fails, a new batch is tried at most once per `backoff.baseMs`; the retries
 * only at the backoff pace, so a dead endpoint gets about one request a second.
 *
 * Bounds: at most `maxQueuedBatches` batches and `maxQueuedBytes` bytes wait; beyond that the
 * oldest is dropped (retries first), counted by the observer, and logged once per episode.
 * Redirects are not followed: a 3xx is a failed delivery (as GitHub's webhooks).
 */
import type { Logger } from '../log/logger.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { WebhookObserver } from './types.js';

/** One signed request body, ready to send (the same bytes on every retry). */
export interface Batch {
  appId: string;
  body: string;
  headers: Headers;
  /** Number of events in `body`, for logs and the observer. */
  events: number;
  /** When the batch was cut (ms), for the queue-age gauge. */
  createdAt?: number;
}

/** What every queue of a dispatcher shares. */
export interface SendContext {
  timeoutMs: number;
  retryForMs: number;
  maxQueuedBatches: number;
  maxQueuedBytes: number;
  backoff: BackoffOptions;
  fetch: typeof fetch;
  now: () => number;
  observer: WebhookObserver | undefined;
  /** Aborted by `close()`: in-flight requests stop at once. */
  closeSignal: AbortSignal;
}

interface Pending {
  batch: Batch;
  /** 0 until the first attempt. */
  firstAttemptAt: number;
  lastAttemptAt: number;
  attempts: number;
}

export class EndpointQueue {
  /** Never tried, oldest first. */
  private readonly fresh: Pending[] = [];
  /** Tried and failed, oldest first. */
  private readonly retrying: Pending[] = [];
  private bytes = 0;
  private current: Pending | null = null;
  private running = false;
  private done: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  /** Consecutive failed attempts of this endpoint (0 = it answers). */
  private failures = 0;
  private lastAttemptAt = 0;
  /** Set by `hurry()` (ms): every batch not tried since then is tried once more without a wait. */
  private hurriedAt = 0;
  private closed = false;
  /** Drops since the queue last had room: logged once per episode. */
  private droppedInEpisode = 0;
  /** Batches given up since the endpoint last answered: logged once per episode. */
  private expiredInEpisode = 0;

  constructor(
    private readonly url: string,
    private readonly ctx: SendContext,
    private readonly logger: Logger,
    /** Called when the queue has sent (or dropped) everything it held. */
    private readonly onIdle: () => void,
  ) {}

  push(batch: Batch): void {
    if (this.closed) return;
    this.fresh.push({ batch, firstAttemptAt: 0, lastAttemptAt: 0, attempts: 0 });
    this.bytes += batch.body.length;
    this.makeRoom();
    if (!this.running) {
      this.running = true;
      this.done = this.drain();
    } else {
      // A new batch may be tried sooner than the retries' backoff: re-plan the wait.
      this.wake?.();
    }
  }

  /** Ends any wait so everything is tried now; resolves once the queue is empty. */
  hurry(): Promise<void> {
    this.hurriedAt = this.ctx.now() + 1;
    this.wake?.();
    return this.done;
  }

  /** When the oldest batch still held (being sent, waiting or retrying) was cut; undefined when empty. */
  get oldestAt(): number | undefined {
    let oldest: number | undefined;
    for (const p of [this.current, this.fresh[0], this.retrying[0]]) {
      const at = p?.batch.createdAt;
      if (at !== undefined && (oldest === undefined || at < oldest)) oldest = at;
    }
    return oldest;
  }

  /** Batches not yet delivered (the one in flight included). */
  get size(): number {
    return this.fresh.length + this.retrying.length + (this.current ? 1 : 0);
  }

  /** Stops sending; returns how many events are abandoned. */
  close(): number {
    this.closed = true;
    let abandoned = this.current?.batch.events ?? 0;
    for (const p of [...this.fresh, ...this.retrying]) abandoned += p.batch.events;
    this.fresh.length = 0;
    this.retrying.length = 0;
    this.wake?.();
    return abandoned;
  }

  /** Drops the oldest waiting batches (retries first) while over a bound. */
  private makeRoom(): void {
    const { maxQueuedBatches, maxQueuedBytes } = this.ctx;
    while (
      this.fresh.length + this.retrying.length > maxQueuedBatches ||
      (this.bytes > maxQueuedBytes && this.fresh.length + this.retrying.length > 1)
    ) {
      const oldest = (this.retrying.length > 0 ? this.retrying.shift() : this.fresh.shift()) as Pending;
      this.bytes -= oldest.batch.body.length;
      this.ctx.observer?.dropped(oldest.batch.appId, oldest.batch.events, 'queue_full');
      if (this.droppedInEpisode++ === 0) {
        this.logger.warn(
          'webhook queue full: dropping the oldest batches (logged once until the queue has room again)',
          {
            events: oldest.batch.events,
            maxQueuedBatches,
            maxQueuedBytes,
          },
        );
      }
    }
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        this.expire();
        const next = await this.next();
        if (next === null || this.closed) break;
        this.current = next;
        await this.deliver(next);
        this.current = null;
      }
    } catch (err) {
      this.logger.error('webhook sender failed', { err });
    } finally {
      this.current = null;
      this.running = false;
      this.hurriedAt = 0;
      this.onIdle();
    }
  }

  /** The next batch to try, after waiting as long as the endpoint's state asks; null when empty. */
  private async next(): Promise<Pending | null> {
    for (;;) {
      if (this.closed || (this.fresh.length === 0 && this.retrying.length === 0)) return null;
      const hurried =
        this.hurriedAt > 0 && (this.fresh.length > 0 || this.retrying.some((r) => r.lastAttemptAt < this.hurriedAt));
      const wait = hurried ? 0 : this.waitMs();
      if (wait <= 0) {
        const i =
          hurried && this.fresh.length === 0 ? this.retrying.findIndex((r) => r.lastAttemptAt < this.hurriedAt) : 0;
        const p = (this.fresh.length > 0 ? this.fresh.shift() : this.retrying.splice(i, 1)[0]) as Pending;
        this.bytes -= p.batch.body.length;
        if (this.fresh.length + this.retrying.length < this.ctx.maxQueuedBatches) this.droppedInEpisode = 0;
        return p;
      }
      await this.sleep(wait);
      this.expire();
    }
  }

  /** How long until the next attempt: none while the endpoint answers; else paced by the backoff. */
  private waitMs(): number {
    if (this.failures === 0) return 0;
    const since = this.ctx.now() - this.lastAttemptAt;
    if (this.fresh.length > 0) return this.ctx.backoff.baseMs - since;
    return backoffDelay(this.failures, this.ctx.backoff) - since;
  }

  private async deliver(p: Pending): Promise<void> {
    const { ctx } = this;
    const started = ctx.now();
    if (p.attempts === 0) p.firstAttemptAt = started;
    p.attempts++;
    p.lastAttemptAt = started;
    const ok = await this.attempt(p.batch, p.attempts);
    // Waits count from the end of an attempt (a slow failure is not followed at once by the next).
    this.lastAttemptAt = ctx.now();
    if (this.closed) return;
    ctx.observer?.sent(p.batch.appId, ok, p.attempts, ctx.now() - started);
    if (ok) {
      if (this.failures > 0)
        this.logger.info('webhook endpoint answers again', {
          failedAttempts: this.failures,
          batchesGivenUp: this.expiredInEpisode,
        });
      this.failures = 0;
      this.expiredInEpisode = 0;
      return;
    }
    this.failures++;
    // Back in age order: a batch made before the ones already retrying goes before them.
    let i = this.retrying.length;
    while (i > 0 && (this.retrying[i - 1] as Pending).firstAttemptAt > p.firstAttemptAt) i--;
    this.retrying.splice(i, 0, p);
    this.bytes += p.batch.body.length;
    this.makeRoom();
  }

  /** Drops the retried batches whose `retryForMs` has passed. */
  private expire(): void {
    const now = this.ctx.now();
    while (this.retrying.length > 0 && now - (this.retrying[0] as Pending).firstAttemptAt > this.ctx.retryForMs) {
      const p = this.retrying.shift() as Pending;
      this.bytes -= p.batch.body.length;
      if (this.expiredInEpisode++ === 0) {
        this.logger.warn('webhook batch dropped: endpoint kept failing', {
          events: p.batch.events,
          attempts: p.attempts,
          retryForMs: this.ctx.retryForMs,
          note: 'logged once until the endpoint answers again',
        });
      }
      this.ctx.observer?.dropped(p.batch.appId, p.batch.events, 'expired');
    }
  }

  /** One HTTP attempt: true on a 2xx answer (body read) within `timeoutMs`. Never throws. */
  private async attempt(batch: Batch, attempt: number): Promise<boolean> {
    // An own controller, timer and listener, not AbortSignal.any([AbortSignal.timeout(…), close]):
    // on Node 20 that composite signal could be collected before it fired (a stalled request then
    // hung the queue forever), and every composite leaves a weak reference on the long-lived close
    // signal that a soak saw accumulate.
    const controller = new AbortController();
    const abort = (): void => controller.abort(this.ctx.closeSignal.reason);
    const timer = setTimeout(
      () => controller.abort(new DOMException('webhook timed out', 'TimeoutError')),
      this.ctx.timeoutMs,
    );
    if (this.ctx.closeSignal.aborted) abort();
    else this.ctx.closeSignal.addEventListener('abort', abort, { once: true });
    const signal = controller.signal;
    try {
      const res = await this.ctx.fetch(this.url, {
        method: 'POST',
        headers: batch.headers,
        body: batch.body,
        signal,
        // A redirect would carry the signed body and the endpoint's headers to another address.
        redirect: 'manual',
      });
      // Read the body so undici can reuse the keep-alive connection.
      await res.arrayBuffer();
      if (res.status >= 200 && res.status < 300) return true;
      this.logFailure(attempt, {
        status: res.status,
        ...(res.status >= 300 && res.status < 400 ? { redirectNotFollowed: true } : {}),
      });
    } catch (err) {
      if (!this.closed) this.logFailure(attempt, { err });
    } finally {
      clearTimeout(timer);
      this.ctx.closeSignal.removeEventListener('abort', abort);
    }
    return false;
  }

  /** The first failure after the endpoint answered is a warning; further ones are debug noise. */
  private logFailure(attempt: number, ctx: Record<string, unknown>): void {
    if (this.failures === 0) this.logger.warn('webhook request failed', { attempt, ...ctx });
    else this.logger.debug('webhook retry failed', { attempt, ...ctx });
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wake = finish;
    });
  }
}
