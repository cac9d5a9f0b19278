/**
 * Small additions over helpers/clients.ts for the WebSocket integration tests: a record of every
 * frame a pusher-js client received, and awaiting a channel's subscription outcome.
 */
import type { PusherClient } from './clients.js';
import { until } from './clients.js';

export interface Received {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

/** Records every frame the client receives (pusher-js's connection `message` event). */
export function record(client: PusherClient): Received[] {
  const out: Received[] = [];
  client.connection.bind('message', (m: Received) => out.push(m));
  return out;
}

/** `pusher:error` frames among the recorded ones, as `{ code, message }`. */
export function errorsIn(frames: Received[]): Array<{ code: number | null; message: string }> {
  return frames
    .filter((f) => f.event === 'pusher:error')
    .map((f) => (typeof f.data === 'string' ? JSON.parse(f.data) : f.data) as { code: number | null; message: string });
}

export type Outcome =
  { ok: true } | { ok: false; error: { status?: number; code?: number | null; error?: string; type?: string } };

/** Subscribes and resolves with the outcome: subscription_succeeded or subscription_error. */
export async function subscribeOutcome(client: PusherClient, channel: string, timeoutMs = 3_000): Promise<Outcome> {
  const ch = client.subscribe(channel);
  let outcome: Outcome | undefined;
  ch.bind('pusher:subscription_succeeded', () => (outcome ??= { ok: true }));
  ch.bind(
    'pusher:subscription_error',
    (error: Extract<Outcome, { ok: false }>['error']) => (outcome ??= { ok: false, error }),
  );
  await until(() => outcome !== undefined, `subscription outcome for ${channel}`, timeoutMs);
  return outcome!;
}

/** Like `until`, for a predicate that has to ask the server (HTTP API) each time. */
export async function untilAsync(predicate: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * pusher-js answers a 4000–4099 close from the server ("do not reconnect") by calling `close()` on
 * its already-closed faye-websocket socket, which arms a 30 s close timer nothing clears: the test
 * process would then stay alive 30 s. Returns a function that clears that timer; take it while the
 * client is still connected (pusher-js drops its socket reference on close).
 */
export function fayeCloseTimerClearer(client: PusherClient): () => void {
  const socket = (
    client.connection as unknown as { connection?: { transport?: { socket?: { _closeTimer?: NodeJS.Timeout } } } }
  ).connection?.transport?.socket;
  if (!socket) throw new Error('pusher-js client is not connected');
  return () => clearTimeout(socket._closeTimer);
}
