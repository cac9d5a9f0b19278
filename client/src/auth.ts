/**
 * Echo/pusher-js authorization through the tunnel: private/presence channel authorization and
 * user authentication POST to Laravel's endpoints like pusher-js's own `ajax` transport does
 * (form-encoded `socket_id`, `channel_name`), but over the socket, with the tunnel's fallback
 * to HTTP. Use the returned functions as `customHandler`s:
 *
 *   new Echo({ ...,
 *     channelAuthorization: { customHandler: socketChannelAuthorizer(currentTransport) },
 *     userAuthentication: { customHandler: socketUserAuthenticator(currentTransport), endpoint: '/broadcasting/user-auth', headers: {} },
 *   })
 *
 * Pass a getter such as `currentTransport` when Echo is built before the transport exists; with
 * no transport installed the request goes over plain HTTP. Keep `headers: {}` in
 * `userAuthentication`: Echo writes its CSRF header there and throws without it. Echo's own
 * headers are not read: the CSRF token comes from the page, anything else (a bearer token) from
 * `options.headers`.
 */
import { rethrowLater } from './errors.js';
import { echoSocket } from './socket.js';
import type { TransportHandle } from './transport.js';

export interface SocketAuthOptions {
  /** Default `/broadcasting/auth` (channels) or `/broadcasting/user-auth` (users). */
  readonly endpoint?: string;
  /** Extra request headers. `X-CSRF-TOKEN` defaults to `<meta name="csrf-token">`. */
  readonly headers?: Readonly<Record<string, string>> | (() => Readonly<Record<string, string>>);
}

export type TransportRef = TransportHandle | (() => TransportHandle | undefined);

/** Same shapes as pusher-js's `ChannelAuthorizationHandler` / `UserAuthenticationHandler`. */
export interface ChannelAuthorizationData {
  auth: string;
  channel_data?: string;
  shared_secret?: string;
}
export interface UserAuthenticationData {
  auth: string;
  user_data: string;
}
export type ChannelAuthorizationHandler = (
  params: { socketId: string; channelName: string },
  callback: (error: Error | null, authData: ChannelAuthorizationData | null) => void,
) => void;
export type UserAuthenticationHandler = (
  params: { socketId: string },
  callback: (error: Error | null, authData: UserAuthenticationData | null) => void,
) => void;

/** A non-200 answer or invalid JSON, as pusher-js's `HTTPAuthError` reports it. */
export class AuthRequestError extends Error {
  override readonly name = 'HTTPAuthError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function socketChannelAuthorizer(
  transport: TransportRef,
  options: SocketAuthOptions = {},
): ChannelAuthorizationHandler {
  const endpoint = options.endpoint ?? '/broadcasting/auth';
  return (params, callback) => {
    const form = new URLSearchParams({ socket_id: params.socketId, channel_name: params.channelName });
    answer(
      authRequest<ChannelAuthorizationData>(transport, endpoint, form, options.headers, 'channel-authorization'),
      withStatus(transport, params.channelName, callback),
    );
  };
}

export function socketUserAuthenticator(
  transport: TransportRef,
  options: SocketAuthOptions = {},
): UserAuthenticationHandler {
  const endpoint = options.endpoint ?? '/broadcasting/user-auth';
  return (params, callback) => {
    const form = new URLSearchParams({ socket_id: params.socketId });
    answer(
      authRequest<UserAuthenticationData>(transport, endpoint, form, options.headers, 'user-authentication'),
      callback,
    );
  };
}

/**
 * pusher-js puts `status` into `pusher:subscription_error` (what Echo's `.error()` receives) only
 * for its own HTTPAuthError class, which it does not export. So while the refusal is handed back,
 * a global listener of that channel, called before every other one with the same payload, adds
 * the status to it: Echo sees `{type: 'AuthError', error, status}` as over pusher-js's own HTTP.
 */
function withStatus(
  transport: TransportRef,
  channelName: string,
  callback: (error: Error | null, data: ChannelAuthorizationData | null) => void,
): (error: Error | null, data: ChannelAuthorizationData | null) => void {
  return (error, data) => {
    const channel = error instanceof AuthRequestError ? channelOf(transport, channelName) : undefined;
    if (channel === undefined || !(error instanceof AuthRequestError)) return callback(error, data);
    const stamp = (event: string, payload: unknown): void => {
      if (event !== 'pusher:subscription_error' || typeof payload !== 'object' || payload === null) return;
      if (!('status' in payload)) (payload as { status?: number }).status = error.status;
    };
    channel.bind_global(stamp);
    try {
      callback(error, data);
    } finally {
      channel.unbind_global(stamp);
    }
  };
}

interface GlobalBindable {
  bind_global(callback: (event: string, payload: unknown) => void): unknown;
  unbind_global(callback: (event: string, payload: unknown) => void): unknown;
}

/** The pusher-js channel being authorized: on the transport's socket, else on Echo's. */
function channelOf(transport: TransportRef, name: string): GlobalBindable | undefined {
  const socket = resolve(transport)?.socket ?? echoSocket();
  const channel = (socket as { channel?: (name: string) => unknown } | undefined)?.channel?.(name);
  const c = channel as Partial<GlobalBindable> | undefined;
  return typeof c?.bind_global === 'function' && typeof c.unbind_global === 'function'
    ? (c as GlobalBindable)
    : undefined;
}

function resolve(transport: TransportRef): TransportHandle | undefined {
  return typeof transport === 'function' && !('uninstall' in transport) ? transport() : (transport as TransportHandle);
}

/** Calls back exactly once; an exception thrown by the callback surfaces as uncaught. */
function answer<T>(result: Promise<T>, callback: (error: Error | null, data: T | null) => void): void {
  result
    .then(
      (data) => callback(null, data),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), null),
    )
    .catch(rethrowLater);
}

async function authRequest<T>(
  transport: TransportRef,
  endpoint: string,
  form: URLSearchParams,
  extra: SocketAuthOptions['headers'],
  kind: string,
): Promise<T> {
  const handle = resolve(transport);
  const headers: Record<string, string> = { accept: 'application/json' };
  const csrf = csrfToken();
  if (csrf !== undefined) headers['x-csrf-token'] = csrf;
  for (const [name, value] of Object.entries(typeof extra === 'function' ? extra() : (extra ?? {}))) {
    headers[name.toLowerCase()] = value;
  }
  const init: RequestInit = { method: 'POST', headers, body: form, credentials: 'same-origin' };
  const response = handle !== undefined ? await handle.fetch(endpoint, init) : await globalThis.fetch(endpoint, init);
  const text = await response.text();
  if (response.status !== 200) {
    throw new AuthRequestError(
      response.status,
      `Unable to retrieve auth string from ${kind} endpoint - received status: ${response.status} from ${endpoint}.`,
    );
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new AuthRequestError(
      200,
      `JSON returned from ${kind} endpoint was invalid, yet status code was 200. Data was: ${text}`,
    );
  }
}

function csrfToken(): string | undefined {
  const doc = (
    globalThis as { document?: { querySelector?(s: string): { getAttribute(n: string): string | null } | null } }
  ).document;
  const token =
    doc?.querySelector?.('meta[name="csrf-token"]')?.getAttribute('content') ??
    doc?.querySelector?.('script[data-csrf]')?.getAttribute('data-csrf');
  return token ? token : undefined;
}
