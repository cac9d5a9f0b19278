/**
 * Webhook dispatcher: collects each app's events for `batchMs`, then gives every endpoint of that
 * app one signed request holding only the events it asked for. Apps never share a batch.
 *
 * Guarantees: `emit()` is synchronous, O(1) per endpoint, and never throws; all I/O happens in
 * the background. Delivery is at least once per endpoint within `retryForMs`; what cannot be
 * delivered in that time is dropped with a warning. Order: see endpoint-queue.ts (in order while
 * the endpoint answers; after a failure new batches go before the ones being retried).
 *
 * Bounds: a window's batch is cut early at `maxBatchEvents` events or about `maxBatchBytes`; a
 * channel_occupied followed by channel_vacated of the same channel in one window is left out
 * (both: the receiver would see the channel as it was); each endpoint's queue holds at most
 * `maxQueuedBatches` batches and `maxQueuedBytes` bytes.
 */
import type { AppConfig, WebhookEndpointConfig, WebhookEventName, WebhooksConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { EndpointQueue, type SendContext } from './endpoint-queue.js';
import { endpointAccepts, endpointWantsName } from './filter.js';
import { webhookHeaders } from './sign.js';
import type { WebhookEvent, WebhookObserver, WebhookPayload } from './types.js';

export interface WebhookDispatcherOptions {
  config: WebhooksConfig;
  logger: Logger;
  observer?: WebhookObserver;
  /** Clock for `time_ms` and retry expiry (ms since epoch). */
  now?: () => number;
  fetch?: typeof fetch;
  /** Retry delays; default 1 s doubling to 60 s with ±20 % jitter. Tests pass a small `baseMs`. */
  backoff?: Partial<BackoffOptions>;
}

/** `flush()` waits this long when no deadline is given. */
export const DEFAULT_FLUSH_DEADLINE_MS = 5_000;

interface AppState {
  app: AppConfig;
  /** This window's events; null where an occupied + vacated pair was coalesced away. */
  events: (WebhookEvent | null)[];
  /** Events in `events` that are not null, and their estimated JSON size. */
  live: number;
  bytes: number;
  /** Channel → index in `events` of its channel_occupied of this window (for coalescing). */
  occupied: Map<string, number>;
  timer: NodeJS.Timeout | null;
  queues: Map<WebhookEndpointConfig, EndpointQueue>;
}

/** JSON overhead of one event beyond its strings (`{"name":"…","channel":"…"}` and so on). */
const EVENT_OVERHEAD_BYTES = 48;

/** About the JSON size of an event (strings counted as their length; escaping is not). */
function estimateBytes(event: WebhookEvent): number {
  if (!('channel' in event)) return EVENT_OVERHEAD_BYTES + event.name.length + event.user_id.length;
  let n = EVENT_OVERHEAD_BYTES + event.name.length + event.channel.length;
  if (event.name === 'client_event')
    n += event.event.length + event.data.length + event.socket_id.length + (event.user_id?.length ?? 0);
  else if (event.name === 'member_added' || event.name === 'member_removed') n += event.user_id.length;
  return n;
}

export class WebhookDispatcher {
  private readonly apps = new Map<string, AppState>();
  private readonly closer = new AbortController();
  private readonly ctx: SendContext;
  private readonly batchMs: number;
  private readonly maxBatchEvents: number;
  private readonly maxBatchBytes: number;
  private readonly observer: WebhookObserver | undefined;
  private readonly logger: Logger;
  private closed = false;

  constructor(opts: WebhookDispatcherOptions) {
    validateWebhooksConfig(opts.config);
    const { batchMs, timeoutMs, retryForMs, maxQueuedBatches, maxQueuedBytes } = opts.config;
    this.batchMs = batchMs;
    this.maxBatchEvents = opts.config.maxBatchEvents;
    this.maxBatchBytes = opts.config.maxBatchBytes;
    this.observer = opts.observer;
    this.logger = opts.logger.child({ component: 'webhooks' });
    this.ctx = {
      timeoutMs,
      retryForMs,
      maxQueuedBatches,
      maxQueuedBytes,
      backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
      fetch: opts.fetch ?? globalThis.fetch,
      now: opts.now ?? Date.now,
      observer: opts.observer,
      closeSignal: this.closer.signal,
    };
  }

  /** True if any endpoint of the app wants this event name (so callers can skip building it). */
  wants(app: AppConfig, name: WebhookEventName): boolean {
    return app.webhooks.some((endpoint) => endpointWantsName(endpoint, name));
  }

  emit(app: AppConfig, event: WebhookEvent): void {
    try {
      if (this.closed || !this.wants(app, event.name)) return;
      let state = this.apps.get(app.id);
      if (!state) {
        state = { app, events: [], live: 0, bytes: 0, occupied: new Map(), timer: null, queues: new Map() };
        this.apps.set(app.id, state);
      }
      state.app = app;
      if (event.name === 'channel_vacated' && this.coalesce(state, event.channel)) return;
      if (event.name === 'channel_occupied') state.occupied.set(event.channel, state.events.length);
      state.events.push(event);
      state.live++;
      state.bytes += estimateBytes(event);
      // A full batch goes now (tombstones count: the window's array is bounded too).
      if (state.events.length >= this.maxBatchEvents || state.bytes >= this.maxBatchBytes) {
        this.cut(state);
        return;
      }
      if (state.timer === null) {
        const s = state;
        s.timer = setTimeout(() => this.cut(s), this.batchMs);
      }
    } catch (err) {
      this.logger.error('webhook emit failed', { appId: app?.id, err });
    }
  }

  /** Per app, seconds since the oldest undelivered batch was cut (apps with nothing queued are absent). */
  queueAges(): Record<string, number> {
    const now = this.ctx.now();
    const out: Record<string, number> = {};
    for (const [appId, state] of this.apps) {
      let oldest = Infinity;
      for (const queue of state.queues.values()) oldest = Math.min(oldest, queue.oldestAt ?? Infinity);
      if (oldest !== Infinity) out[appId] = Math.max(0, (now - oldest) / 1000);
    }
    return out;
  }

  /** A vacated that follows this window's occupied of the channel: both are left out. */
  private coalesce(state: AppState, channel: string): boolean {
    const at = state.occupied.get(channel);
    if (at === undefined) return false;
    state.occupied.delete(channel);
    const occupied = state.events[at];
    if (occupied === undefined || occupied === null) return false;
    state.live--;
    state.bytes -= estimateBytes(occupied);
    if (at === state.events.length - 1) state.events.pop();
    else state.events[at] = null;
    this.observer?.coalesced?.(state.app.id, 1);
    return true;
  }

  /** Sends everything pending now and waits for in-flight sends, up to `deadlineMs`. */
  async flush(deadlineMs = DEFAULT_FLUSH_DEADLINE_MS): Promise<void> {
    for (const state of this.apps.values()) this.cut(state);
    const queues = [...this.apps.values()].flatMap((state) => [...state.queues.values()]);
    if (queues.length === 0) return;
    const drained = Promise.all(queues.map((queue) => queue.hurry()));
    if (!(await settlesWithin(drained, deadlineMs))) {
      const batches = queues.reduce((n, queue) => n + queue.size, 0);
      this.logger.warn('webhook flush deadline passed with batches undelivered', { batches, deadlineMs });
    }
  }

  /** Stops timers and in-flight requests; whatever is undelivered is abandoned (and logged). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let abandoned = 0;
    for (const state of this.apps.values()) {
      if (state.timer) clearTimeout(state.timer);
      abandoned += state.live;
      for (const queue of state.queues.values()) abandoned += queue.close();
    }
    this.apps.clear();
    this.closer.abort();
    if (abandoned > 0) this.logger.warn('webhook dispatcher closed with undelivered events', { events: abandoned });
  }

  /** Ends the app's batch window: one batch per endpoint with the events it accepts. */
  private cut(state: AppState): void {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    const { app } = state;
    const events =
      state.live === state.events.length ? (state.events as WebhookEvent[]) : state.events.filter((e) => e !== null);
    state.events = [];
    state.live = 0;
    state.bytes = 0;
    state.occupied.clear();
    try {
      const time_ms = this.ctx.now();
      for (const endpoint of app.webhooks) {
        if (events.length === 0) break;
        const accepted = events.filter((event) => endpointAccepts(endpoint, event));
        if (accepted.length === 0) continue;
        const payload: WebhookPayload = { time_ms, events: accepted };
        const body = JSON.stringify(payload);
        const headers = webhookHeaders(app, body, endpoint.headers);
        this.queue(state, endpoint).push({ appId: app.id, body, headers, events: accepted.length, createdAt: time_ms });
      }
    } catch (err) {
      this.logger.error('webhook batch could not be built', { appId: app.id, events: events.length, err });
    }
    this.forgetIfIdle(state);
  }

  private queue(state: AppState, endpoint: WebhookEndpointConfig): EndpointQueue {
    let queue = state.queues.get(endpoint);
    if (!queue) {
      const logger = this.logger.child({ appId: state.app.id, endpoint: describeUrl(endpoint.url) });
      const created = new EndpointQueue(endpoint.url, this.ctx, logger, () => {
        if (state.queues.get(endpoint) === created) state.queues.delete(endpoint);
        this.forgetIfIdle(state);
      });
      state.queues.set(endpoint, created);
      queue = created;
    }
    return queue;
  }

  private forgetIfIdle(state: AppState): void {
    if (state.timer === null && state.events.length === 0 && state.queues.size === 0) {
      if (this.apps.get(state.app.id) === state) this.apps.delete(state.app.id);
    }
  }
}

/** Bad settings fail here, at start, with one precise message. */
export function validateWebhooksConfig(config: WebhooksConfig): void {
  const fail = (message: string): never => {
    throw new RangeError(`webhooks.${message}`);
  };
  if (!Number.isFinite(config.batchMs) || config.batchMs < 0) fail('batchMs must be a number ≥ 0');
  if (!Number.isFinite(config.timeoutMs) || config.timeoutMs <= 0) fail('timeoutMs must be a number > 0');
  if (!Number.isFinite(config.retryForMs) || config.retryForMs < 0) fail('retryForMs must be a number ≥ 0');
  for (const key of ['maxQueuedBatches', 'maxBatchEvents', 'maxBatchBytes', 'maxQueuedBytes'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1) fail(`${key} must be an integer ≥ 1`);
  }
}

/** The endpoint for logs, without credentials or query string. */
function describeUrl(url: string): string {
  if (!URL.canParse(url)) return '(invalid url)';
  const parsed = new URL(url);
  return parsed.origin + parsed.pathname;
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
