/**
 * The ordered send queue of one endpoint of one app. Batches go out one at a time, in order: a
 * batch being retried holds back the ones behind it. Retries back off exponentially until
 * `retryForMs` has passed since the first attempt; then the batch is dropped. At most
 * `maxQueuedBatches` wait behind the one being sent; beyond that the oldest waiting one is dropped.
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
  backoff: BackoffOptions;
  fetch: typeof fetch;
  now: () => number;
  observer: WebhookObserver | undefined;
  /** Aborted by `close()`: in-flight requests stop at once. */
  closeSignal: AbortSignal;
}

export class EndpointQueue {
  private readonly waiting: Batch[] = [];
  private current: Batch | null = null;
  private done: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  /** Set by `hurry()` during an attempt: the next backoff wait is skipped. */
  private hurried = false;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly ctx: SendContext,
    private readonly logger: Logger,
    /** Called when the queue has sent (or dropped) everything it held. */
    private readonly onIdle: () => void,
  ) {}

  push(batch: Batch): void {
    if (this.closed) return;
    if (this.waiting.length >= this.ctx.maxQueuedBatches) {
      const oldest = this.waiting.shift() as Batch;
      this.logger.warn('webhook queue full, dropped oldest batch', {
        events: oldest.events,
        maxQueuedBatches: this.ctx.maxQueuedBatches,
      });
      this.ctx.observer?.dropped(oldest.appId, oldest.events, 'queue_full');
    }
    this.waiting.push(batch);
    if (this.current === null) this.done = this.drain();
  }

  /** Ends a backoff wait so the retry happens now; resolves once the queue is empty. */
  hurry(): Promise<void> {
    if (this.wake) this.wake();
    else if (this.current) this.hurried = true;
    return this.done;
  }

  /** Batches not yet delivered (the one in flight included). */
  /** When the oldest batch still held (being sent or waiting) was cut; undefined when empty. */
  get oldestAt(): number | undefined {
    return (this.current ?? this.waiting[0])?.createdAt;
  }

  get size(): number {
    return this.waiting.length + (this.current ? 1 : 0);
  }

  /** Stops sending; returns how many events are abandoned. */
  close(): number {
    this.closed = true;
    const abandoned = this.waiting.reduce((n, b) => n + b.events, this.current?.events ?? 0);
    this.waiting.length = 0;
    this.wake?.();
    return abandoned;
  }

  private async drain(): Promise<void> {
    try {
      for (let batch = this.waiting.shift(); batch && !this.closed; batch = this.waiting.shift()) {
        this.current = batch;
        await this.deliver(batch);
      }
    } catch (err) {
      this.logger.error('webhook sender failed', { err });
    } finally {
      this.current = null;
      this.onIdle();
    }
  }

  private async deliver(batch: Batch): Promise<void> {
    const { ctx } = this;
    const firstAttemptAt = ctx.now();
    for (let attempt = 1; ; attempt++) {
      const started = ctx.now();
      const ok = await this.attempt(batch, attempt);
      if (this.closed) return;
      ctx.observer?.sent(batch.appId, ok, attempt, ctx.now() - started);
      if (ok) return;
      const delay = backoffDelay(attempt, ctx.backoff);
      if (ctx.now() + delay - firstAttemptAt > ctx.retryForMs) {
        this.logger.warn('webhook batch dropped: endpoint kept failing', {
          events: batch.events,
          attempts: attempt,
          retryForMs: ctx.retryForMs,
        });
        ctx.observer?.dropped(batch.appId, batch.events, 'expired');
        return;
      }
      await this.sleep(delay);
      if (this.closed) return;
    }
  }

  /** One HTTP attempt: true on a 2xx answer (body read) within `timeoutMs`. Never throws. */
  private async attempt(batch: Batch, attempt: number): Promise<boolean> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.ctx.timeoutMs), this.ctx.closeSignal]);
    try {
      const res = await this.ctx.fetch(this.url, { method: 'POST', headers: batch.headers, body: batch.body, signal });
      // Read the body so undici can reuse the keep-alive connection.
      await res.arrayBuffer();
      if (res.ok) return true;
      this.logFailure(attempt, { status: res.status });
    } catch (err) {
      if (!this.closed) this.logFailure(attempt, { err });
    }
    return false;
  }

  /** The first failure of a batch is a warning; its further retries are debug noise. */
  private logFailure(attempt: number, ctx: Record<string, unknown>): void {
    if (attempt === 1) this.logger.warn('webhook request failed', { attempt, ...ctx });
    else this.logger.debug('webhook retry failed', { attempt, ...ctx });
  }

  private async sleep(ms: number): Promise<void> {
    if (this.hurried) {
      this.hurried = false;
      return;
    }
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
