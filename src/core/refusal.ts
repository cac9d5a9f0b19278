/**
 * The one place a refusal on a WebSocket becomes frames: `pusher:error` (or, for a subscription,
 * `pusher:subscription_error`) and, if the error is fatal, the close with its Pusher code.
 * Anything thrown that is not a PusherError is logged and answered as an internal error, so no
 * library message ("URI malformed") ever reaches a client.
 */
import { PusherError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import * as frames from '../protocol/frames.js';
import type { WsSocket } from '../transport/types.js';

/** `err` as the PusherError a client may see. */
export function asRefusal(err: unknown, logger: Logger, context: Record<string, unknown>): PusherError {
  if (err instanceof PusherError) return err;
  logger.error('unexpected error handling a client', { ...context, err });
  return new PusherError(null, 'Internal server error');
}

export function sendRefusal(socket: WsSocket, err: PusherError, channel?: string): void {
  socket.send(channel === undefined ? frames.errorFrame(err) : frames.subscriptionError(channel, err));
  if (err.fatal && err.code !== null) socket.close(err.code, err.message);
}
