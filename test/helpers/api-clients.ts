/**
 * Small waits over pusher-js for the HTTP API tests: subscribed channels, signed-in users,
 * collected events and the close codes a client was given.
 */
import { until, type PusherClient } from './clients.js';

export interface Received {
  event: string;
  data: unknown;
}

interface ChannelLike {
  subscribed: boolean;
  bind(event: string, cb: (data: unknown) => void): void;
  bind_global(cb: (event: string, data: unknown) => void): void;
}

interface UserLike {
  user_data: { id: string } | null;
  serverToUserChannel: { subscribed: boolean } | null;
  bind(event: string, cb: (data: unknown) => void): void;
}

/** Subscribes and waits for `pusher_internal:subscription_succeeded`; returns what the channel receives. */
export async function subscribeAndCollect(client: PusherClient, channel: string): Promise<Received[]> {
  const got: Received[] = [];
  const ch = client.subscribe(channel) as unknown as ChannelLike;
  ch.bind_global((event, data) => {
    if (!event.startsWith('pusher:') && !event.startsWith('pusher_internal:')) got.push({ event, data });
  });
  await until(() => ch.subscribed, `${channel} subscribed`);
  return got;
}

/** Subscribes and resolves with the `pusher:subscription_error` payload (rejects if it succeeds). */
export async function subscriptionError(client: PusherClient, channel: string): Promise<Record<string, unknown>> {
  const ch = client.subscribe(channel) as unknown as ChannelLike;
  let error: Record<string, unknown> | undefined;
  ch.bind('pusher:subscription_error', (e) => (error = e as Record<string, unknown>));
  await until(() => error !== undefined || ch.subscribed, `${channel} answered`);
  if (!error) throw new Error(`${channel}: subscription succeeded, an error was expected`);
  return error;
}

/** Signs the client in and waits until its `#server-to-user-{id}` channel is subscribed. */
export async function signedIn(client: PusherClient): Promise<Received[]> {
  const user = client.user as unknown as UserLike;
  const got: Received[] = [];
  client.signin();
  await until(() => user.user_data !== null && user.serverToUserChannel?.subscribed === true, 'signed in');
  const bindAll = user as unknown as { bind_global?: (cb: (event: string, data: unknown) => void) => void };
  bindAll.bind_global?.((event, data) => got.push({ event, data }));
  return got;
}

/**
 * Close codes this client will be given. pusher-js reports a 4xxx close as an `error` event: a
 * `PusherError` on an open connection, wrapped in a `WebSocketError` during the handshake.
 */
export function closeCodes(client: PusherClient): number[] {
  const codes: number[] = [];
  type PusherErrorEvent = { type?: string; data?: { code?: number }; error?: PusherErrorEvent };
  client.connection.bind('error', (e: PusherErrorEvent) => {
    const inner = e?.type === 'WebSocketError' ? e.error : e;
    if (inner?.type === 'PusherError' && typeof inner.data?.code === 'number') codes.push(inner.data.code);
  });
  return codes;
}
