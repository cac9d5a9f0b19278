/**
 * `installLivewireTransport`: wraps `window.fetch` so Livewire's update requests go over the
 * page's pusher-js socket, and decides, per request, between the socket and plain HTTP.
 *
 * HTTP (the original `fetch`, same arguments) is used when: the request is not a Livewire update;
 * the socket is not `connected`; the circuit breaker is open; the body is not text; its frame
 * would exceed the server's frame limit; the socket wrote nothing; the server answered `wiremesh:fallback`; or the tunnelled answer is a 419 (the
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
import { DEFAULT_MAX_FRAME_BYTES } from './protocol.js';
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
  | 'cookies-cannot-follow'
  /** The request's frame would exceed the server's frame limit (announced in its session answer). */
  | 'too-large';

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

  const transport = new LivewireTransport(socket, breaker, {
    originalFetch: globalThis.fetch,
    match: options.match ?? ((request) => isLivewireUpdate(request)),
    emit: options.onEvent ?? (() => undefined),
    timeoutMs,
    reloadOn,
  });
  const handle: TransportHandle = Object.assign(() => transport.uninstall(), {
    uninstall: () => transport.uninstall(),
    fetch: (input: RequestInfo | URL, init?: RequestInit) => transport.fetch(input, init),
    socket,
    breaker,
  });
  transport.install(() => {
    if (g[STATE]?.handle === handle) delete g[STATE];
  });
  g[STATE] = { originalFetch: transport.originalFetch, handle };
  return handle;
}

interface TransportSettings {
  readonly originalFetch: typeof fetch;
  readonly match: RequestMatcher;
  readonly emit: (event: TransportEvent) => void;
  readonly timeoutMs: number;
  readonly reloadOn: readonly string[];
}

/** One installed transport: the `fetch` wrapper, and the choice between the socket and HTTP for each request. */
class LivewireTransport {
  readonly originalFetch: typeof fetch;
  private readonly tunnel: Tunnel;
  /** The browser's session follows the socket (pusher-js sockets; see session.ts). */
  private readonly session: SessionSync | undefined;
  private active = true;
  private readonly warned = new Set<string>();
  private onUninstall: () => void = () => undefined;

  /** What `globalThis.fetch` becomes (a named function: it shows as `fetch` in stack traces). */
  private readonly wrapper: typeof fetch;

  constructor(
    readonly socket: TunnelSocket,
    private readonly breaker: CircuitBreaker,
    private readonly settings: TransportSettings,
  ) {
    this.originalFetch = settings.originalFetch;
    const { emit, timeoutMs } = settings;
    this.tunnel = new Tunnel(socket, {
      timeoutMs,
      hooks: {
        onSocketSuccess: () => breaker.success(),
        onSocketFailure: (code) => {
          breaker.failure();
          emit({ type: 'failure', code });
        },
      },
    });
    const origin = socketOrigin(socket);
    this.session =
      origin === undefined
        ? undefined
        : new SessionSync(socket, {
            origin,
            fetch: this.originalFetch,
            timeoutMs: Math.min(timeoutMs, 10_000),
            onSync: (why, set) => emit({ type: 'sync', why, set }),
          });
    const transport = this;
    this.wrapper = function fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
      return transport.wrapped(input, init);
    };
  }

  /** Once per reason: a console warning saying why updates stay on HTTP, and what to change. */
  private warnOnce(reason: string): void {
    if (this.warned.has(reason)) return;
    this.warned.add(reason);
    console.warn(`wiremesh: Livewire updates go over HTTP, not the socket: ${reason}. ${httpFix(reason)}`.trim());
  }

  /** Wraps `globalThis.fetch`; `onUninstall` runs when this transport is uninstalled. */
  install(onUninstall: () => void): void {
    this.onUninstall = onUninstall;
    globalThis.fetch = this.wrapper;
  }

  uninstall(): void {
    if (!this.active) return;
    this.active = false; // if someone wrapped fetch after us, our wrapper now passes everything through
    if (globalThis.fetch === this.wrapper) globalThis.fetch = this.originalFetch;
    this.tunnel.close();
    this.session?.close();
    this.onUninstall();
  }

  /** Any same-origin request through the tunnel, with every fallback rule. */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    return this.viaTunnel(input, init, describeRequest(input, init));
  }

  private wrapped(input: RequestInfo | URL, init: RequestInit | undefined): Promise<Response> {
    if (!this.active) return this.originalFetch.call(globalThis, input, init);
    let shape: CapturedRequest | undefined;
    try {
      shape = describeRequest(input, init);
      if (shape === undefined || !this.settings.match(shape))
        return this.plain(input, init, shape !== undefined && shape.url.origin === currentOrigin());
    } catch (error) {
      return Promise.reject(error); // like fetch: bad headers reject, never throw
    }
    return this.viaTunnel(input, init, shape);
  }

  /** Any request of the page over HTTP: to its own origin only after the browser holds the jar's cookies, and it may change them. */
  private async plain(input: RequestInfo | URL, init: RequestInit | undefined, sameOrigin: boolean): Promise<Response> {
    const { session } = this;
    if (session === undefined || !sameOrigin) return this.originalFetch.call(globalThis, input, init);
    await session.beforeHttp();
    try {
      return await this.originalFetch.call(globalThis, input, init);
    } finally {
      session.browserChanged();
    }
  }

  private http(
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    reason: HttpReason,
    detail?: { code?: string | number; detail?: string },
  ): Promise<Response> {
    this.settings.emit({ type: 'http', reason, ...detail });
    return this.plain(input, init, true);
  }

  private async viaTunnel(
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    shape: CapturedRequest | undefined,
  ): Promise<Response> {
    if (shape?.signal?.aborted) throw abortReason(shape.signal);
    if (shape === undefined || shape.url.origin !== currentOrigin()) return this.http(input, init, 'not-routable');
    if (this.socket.connection.state !== 'connected') return this.http(input, init, 'not-connected');
    if (!this.breaker.allow()) return this.http(input, init, 'circuit-open');
    const request = await captureRequest(input, init, shape);
    if (request === undefined) return this.http(input, init, 'not-routable');
    let maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
    if (this.session !== undefined) {
      const info = await this.session.ready();
      if (!info.sync) {
        this.warnOnce(info.reason);
        return this.http(input, init, 'cookies-cannot-follow', { detail: info.reason });
      }
      maxFrameBytes = info.maxFrameBytes;
      await this.session.beforeTunnel();
      if (shape.signal?.aborted) throw abortReason(shape.signal);
    }
    const outcome = await this.tunnel.send(request, shape.signal, maxFrameBytes);
    switch (outcome.kind) {
      case 'not-sent':
        return this.http(input, init, 'not-sent');
      case 'too-large':
        return this.http(input, init, 'too-large', {
          detail: `a frame of ${outcome.bytes} bytes; the server reads at most ${outcome.limit}`,
        });
      case 'fallback':
        return this.http(input, init, 'server-fallback', { code: outcome.code, detail: outcome.reason });
      case 'response':
        return this.deliver(input, init, outcome);
    }
  }

  private async deliver(
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    outcome: Extract<TunnelOutcome, { kind: 'response' }>,
  ): Promise<Response> {
    const { response } = outcome;
    const { emit, reloadOn } = this.settings;
    if (response.status === 419) {
      await response.body?.cancel();
      return this.http(input, init, 'expired-419');
    }
    emit({ type: 'socket', status: response.status });
    if (this.session !== undefined && outcome.setCookies.length > 0) {
      const synced = this.session.serverSet();
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
  }
}

/** What to change for the tunnel to carry the updates, from the server's reason. */
function httpFix(reason: string): string {
  const origin = currentOrigin();
  if (/not at the page's host/.test(reason))
    return `Connect the socket to wiremesh on the page's own host, ${hostOf(origin)} (Echo's wsHost; VITE_PUSHER_HOST / VITE_REVERB_HOST = the host of APP_URL).`;
  if (/allowed origins/.test(reason))
    return `Add ${origin ?? "the page's origin"} to the app's livewire.publicUrl or livewire.allowedOrigins in wiremesh's config.`;
  if (/no Livewire tunnel|refused wiremesh:session/.test(reason))
    return "Give this app a livewire section in wiremesh's config (docs/configuration.md), or leave installLivewireTransport out.";
  return '';
}

function hostOf(origin: string | undefined): string {
  try {
    return origin === undefined ? '' : new URL(origin).hostname;
  } catch {
    return '';
  }
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
