/**
 * Public types of the webhook dispatcher. Event objects have exactly the shapes Pusher sends, so
 * they are serialized as they are.
 */

export type WebhookEvent =
  | { name: 'channel_occupied' | 'channel_vacated' | 'cache_miss'; channel: string }
  | { name: 'member_added' | 'member_removed'; channel: string; user_id: string }
  /** `user_id` only on presence channels. */
  | { name: 'client_event'; channel: string; event: string; data: string; socket_id: string; user_id?: string }
  | { name: 'subscription_count'; channel: string; subscription_count: number }
  /** wiremesh's own: a user's first presence channel anywhere in the cluster / their last one left. */
  | { name: 'user_online' | 'user_offline'; user_id: string };

/** Body of one webhook request. */
export interface WebhookPayload {
  time_ms: number;
  events: WebhookEvent[];
}

/**
 * Narrow observability seam (metrics live elsewhere). Called from the background sender, never
 * from `emit()`. Implementations must not throw.
 */
export interface WebhookObserver {
  /** One HTTP attempt finished: `ok` is a 2xx answer within the timeout; `attempt` starts at 1. */
  sent(appId: string, ok: boolean, attempt: number, ms: number): void;
  /** A batch was given up: retried for longer than `retryForMs`, or pushed out of a full queue (count or bytes). */
  dropped(appId: string, events: number, reason: 'expired' | 'queue_full'): void;
  /** `pairs` channel_occupied + channel_vacated of one channel fell in one window and were both left out. */
  coalesced?(appId: string, pairs: number): void;
}
