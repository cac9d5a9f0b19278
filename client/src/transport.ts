/**
 * `installLivewireTransport`: wraps `window.fetch` so Livewire's update requests go over the
 * page's pusher-js socket, and decides, per request, between the socket and plain HTTP.
 *
 * HTTP (the original `fetch`, same arguments) is used when: the request is not a Livewire update;
 * the socket is not `connected`; the circuit breaker is open; the body is not text; the socket
 * wrote nothing; the server answered `wiremesh:fallback`; or the tunnelled answer is a 419 (the
 * backend refused without side effects: replayed once, so the browser's own cookies decide).
 * A request lost in flight (timeout, socket drop) is NOT replayed — the backend may have run it —
 * and rejects like a network failure, which Livewire handles as it does over HTTP. So an update
 * is never lost silently and never executed twice.
 *
 * State lives on one global symbol, so installing twice never wraps `fetch` twice (a second
 * install with the same socket returns the first handle, its options unchanged; one with another
 * socket replaces it), and nothing is torn down on `livewire:navigate`: `wire:navigate` keeps the
 * page, its globals and the socket.
 */
import { abortReason, ConfigError, rethrowLater, type TunnelErrorCode } from './errors.js';
import { breakerOptions, CircuitBreaker, type BreakerOptions } from './fallback.js';
import { currentOrigin, isLivewireUpdate, type RequestMatcher } from './match.js';
import { captureRequest, describeRequest, type CapturedRequest } from './request.js';
import { echoSocket, isTunnelSocket, type TunnelSocket } from './socket.js';
import { SessionSync, socketOrigin } from './session.js';
import { Tunnel, type TunnelOutcome } from './tunnel.js';

export interface LivewireTransportOptions {
  /** The app's pusher-js instance. Default: `window.Echo.connector.pusher`. */
  readonly pusher?: TunnelSocket;
  /** Which requests go over the socket. Default: `isLivewireUpdate`. */
  readonly match?: RequestMatcher;
  /** Longest wait for an answer (and between chunks of a streamed one). Default 60 000 ms. */
  readonly timeoutMs?: number;
  /** Circuit breaker: failures in a row, their window, the HTTP cool-down. Default 3 / 60 s / 30 s. */
  readonly fallbackFor?: Partial<BreakerOptions>;
  /**
   * Cookie names that make the page reload when a tunnelled response set them. A `Set-Cookie`
   * cannot reach the browser through a socket, and HttpOnly cookies (the session) cannot be set
   * from JavaScript at all; reloading makes the page render again from the browser's own cookies,
   * which stay the truth. Default `[]`.
   */
  readonly reloadOnCookies?: readonly string[];
  /** Observes routing decisions (for logs and tests). */
  readonly onEvent?: (event: TransportEvent) => void;
}

export type HttpReason =
  /** Cross-origin, an unresolvable URL, or a body that is not text (FormData, Blob, stream). */
  | 'not-routable'
  | 'not-connected'
  | 'circuit-open'
  | 'not-sent'
  | 'server-fallback'
  | 'expired-419'
  /** wiremesh is on another host than the page: its cookies cannot follow the socket (session.ts). */
  | 'cookies-cannot-follow';

export type TransportEvent =
  | { readonly type: 'socket'; readonly status: number }
  | { readonly type: 'http'; readonly reason: HttpReason; readonly code?: string | number; readonly detail?: string }
  | { readonly type: 'failure'; readonly code: TunnelErrorCode }
  | { readonly type: 'reload'; readonly cookies: readonly string[] }
  /** The browser's cookies and the socket's jar were swapped (session.ts): why, and the cookies the browser got. */
  | { readonly type: 'sync'; readonly why: 'browser-changed' | 'server-set'; readonly set: readonly string[] };

/** Calling the handle uninstalls it. */
export interface TransportHandle {
  (): void;
  /** Restores the original `fetch`; requests in flight still complete. */
  uninstall(): void;
  /** Sends any same-origin request through the tunnel, with every fallback rule above. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  readonly socket: TunnelSocket;
  readonly breaker: CircuitBreaker;
}

interface InstalledState {
  readonly originalFetch: typeof fetch;
  readonly handle: TransportHandle;
}

const STATE = Symbol.for('wiremesh.livewire.transport');
type GlobalWithState = typeof globalThis & { [STATE]?: InstalledState };

export const DEFAULT_TIMEOUT_MS = 60_000;

/** The installed transport, if any (for authorizers created before the pusher instance). */
export function currentTransport(): TransportHandle | undefined {
  return (globalThis as GlobalWithState)[STATE]?.handle;
}

export function installLivewireTransport(options: LivewireTransportOptions = {}): TransportHandle {
  const socket = options.pusher ?? echoSocket();
  if (!isTunnelSocket(socket)) {
    throw new ConfigError(
      'installLivewireTransport: no pusher-js instance: pass { pusher } or create window.Echo (pusher or reverb broadcaster) first',
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new ConfigError(
      `installLivewireTransport: timeoutMs must be a positive number of ms, got ${String(timeoutMs)}`,
    );
  }
  const reloadOn = options.reloadOnCookies ?? [];
  if (!Array.isArray(reloadOn) || !reloadOn.every((name) => typeof name === 'string')) {
    throw new ConfigError('installLivewireTransport: reloadOnCookies must be an array of cookie names');
  }
  if (options.match !== undefined && typeof options.match !== 'function') {
    throw new ConfigError('installLivewireTransport: match must be a function (request) => boolean');
  }
  const breaker = new CircuitBreaker(breakerOptions(options.fallbackFor));

  const g = globalThis as GlobalWithState;
  const existing = g[STATE];
  if (existing !== undefined) {
    if (existing.handle.socket === socket) return existing.handle;
    existing.handle.uninstall(); // a new socket (a new Echo): the last install wins
  }

  const originalFetch = globalThis.fetch;
  const match = options.match ?? ((request) => isLivewireUpdate(request));
  const emit = options.onEvent ?? (() => undefined);
  const tunnel = new Tunnel(socket, {
    timeoutMs,
    hooks: {
      onSocketSuccess: () => breaker.success(),
      onSocketFailure: (code) => {
        breaker.failure();
        emit({ type: 'failure', code });
      },
    },
  });
  let active = true;
  // The browser's session follows the socket (pusher-js sockets; see session.ts).
  const origin = socketOrigin(socket);
  const session =
    origin === undefined
      ? undefined
      : new SessionSync(socket, {
          origin,
          fetch: originalFetch,
          timeoutMs: Math.min(timeoutMs, 10_000),
          onSync: (why, set) => emit({ type: 'sync', why, set }),
        });

  /** Any request of the page over HTTP: to its own origin only after the browser holds the jar's cookies, and it may change them. */
  const plain = async (
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    sameOrigin: boolean,
  ): Promise<Response> => {
    if (session === undefined || !sameOrigin) return originalFetch.call(globalThis, input, init);
    await session.beforeHttp();
    try {
      return await originalFetch.call(globalThis, input, init);
    } finally {
      session.browserChanged();
    }
  };

  const http = (
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    reason: HttpReason,
    detail?: { code?: string | number; detail?: string },
  ) => {
    emit({ type: 'http', reason, ...detail });
    return plain(input, init, true);
  };

  const viaTunnel = async (
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    shape: CapturedRequest | undefined,
  ): Promise<Response> => {
    if (shape?.signal?.aborted) throw abortReason(shape.signal);
    if (shape === undefined || shape.url.origin !== currentOrigin()) return http(input, init, 'not-routable');
    if (socket.connection.state !== 'connected') return http(input, init, 'not-connected');
    if (!breaker.allow()) return http(input, init, 'circuit-open');
    const request = await captureRequest(input, init, shape);
    if (request === undefined) return http(input, init, 'not-routable');
    if (session !== undefined) {
      const info = await session.ready();
      if (!info.sync) return http(input, init, 'cookies-cannot-follow', { detail: info.reason });
      await session.beforeTunnel();
      if (shape.signal?.aborted) throw abortReason(shape.signal);
    }
    const outcome = await tunnel.send(request, shape.signal);
    switch (outcome.kind) {
      case 'not-sent':
        return http(input, init, 'not-sent');
      case 'fallback':
        return http(input, init, 'server-fallback', { code: outcome.code, detail: outcome.reason });
      case 'response':
        return deliver(input, init, outcome);
    }
  };

  const deliver = async (
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    outcome: Extract<TunnelOutcome, { kind: 'response' }>,
  ): Promise<Response> => {
    const { response } = outcome;
    if (response.status === 419) {
      await response.body?.cancel();
      return http(input, init, 'expired-419');
    }
    emit({ type: 'socket', status: response.status });
    if (session !== undefined && outcome.setCookies.length > 0) {
      const synced = session.serverSet();
      // A response that leaves the page (Livewire's redirect effect, an HTTP redirect) waits for
      // the browser to hold the new cookies: the next page must load with the new session.
      if (response.redirected || (await mayRedirect(response))) await synced;
      else synced.catch(rethrowLater);
    }
    const reloadFor = outcome.setCookies.filter((name) => reloadOn.includes(name));
    if (reloadFor.length > 0) {
      // After the body has been delivered, so Livewire has what it asked for first.
      outcome.settled
        .then(() => {
          emit({ type: 'reload', cookies: reloadFor });
          setTimeout(reloadPage, 0);
        })
        .catch(rethrowLater);
    }
    return response;
  };

  const wiremeshFetch = function fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    if (!active) return originalFetch.call(globalThis, input, init);
    let shape: CapturedRequest | undefined;
    try {
      shape = describeRequest(input, init);
      if (shape === undefined || !match(shape))
        return plain(input, init, shape !== undefined && shape.url.origin === currentOrigin());
    } catch (error) {
      return Promise.reject(error); // like fetch: bad headers reject, never throw
    }
    return viaTunnel(input, init, shape);
  };

  const uninstall = (): void => {
    if (!active) return;
    active = false; // if someone wrapped fetch after us, our wrapper now passes everything through
    if (globalThis.fetch === wiremeshFetch) globalThis.fetch = originalFetch;
    tunnel.close();
    session?.close();
    if (g[STATE]?.handle === handle) delete g[STATE];
  };

  const handle: TransportHandle = Object.assign(() => uninstall(), {
    uninstall,
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => viaTunnel(input, init, describeRequest(input, init)),
    socket,
    breaker,
  });
  globalThis.fetch = wiremeshFetch;
  g[STATE] = { originalFetch, handle };
  return handle;
}

/** Whether a Livewire response's effects hold a redirect (read from a copy; streamed bodies are not waited for). */
async function mayRedirect(response: Response): Promise<boolean> {
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json') || response.headers.has('x-livewire-stream')) return false;
  try {
    return /"redirect(?:UsingNavigate)?"\s*:/.test(await response.clone().text());
  } catch {
    return false;
  }
}

function reloadPage(): void {
  (globalThis as { location?: { reload(): void } }).location?.reload();
}
