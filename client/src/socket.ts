/**
 * The narrow surface of a pusher-js instance that the tunnel uses. A `Pusher` object satisfies it
 * as it is (`window.Echo.connector.pusher`), and so does the page side of the SharedWorker mode.
 */

export interface TunnelSocket {
  /** Sends one event on the connection; false when nothing was written (no open transport). */
  send_event(event: string, data: unknown): boolean;
  readonly connection: {
    /** pusher-js connection state: `connected` is the only one in which the tunnel is used. */
    readonly state: string;
    /**
     * `message`: every decoded frame `{event, data, channel?}`; `state_change`: `{previous, current}`.
     * (`any` because pusher-js types its callbacks as `Function`.)
     */
    bind(event: string, callback: (payload: any) => void): unknown;
    unbind(event: string, callback: (payload: any) => void): unknown;
  };
}

export interface StateChange {
  readonly previous: string;
  readonly current: string;
}

/** The app's Echo pusher-js instance, when Echo was created with the pusher/reverb broadcaster. */
export function echoSocket(): TunnelSocket | undefined {
  const echo = (globalThis as { Echo?: { connector?: { pusher?: unknown } } }).Echo;
  const pusher = echo?.connector?.pusher;
  return isTunnelSocket(pusher) ? pusher : undefined;
}

export function isTunnelSocket(value: unknown): value is TunnelSocket {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<TunnelSocket>;
  return (
    typeof candidate.send_event === 'function' &&
    typeof candidate.connection === 'object' &&
    candidate.connection !== null &&
    typeof candidate.connection.bind === 'function' &&
    typeof candidate.connection.unbind === 'function'
  );
}
