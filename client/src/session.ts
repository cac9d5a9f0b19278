/**
 * Keeps the browser's cookies and the socket's cookie jar on the server in step (server side:
 * src/livewire/session-sync.ts, the SessionSync class). The page POSTs its connection's token to wiremesh's own
 * origin with credentials; the request carries the browser's current cookies to the jar, the
 * response gives the browser (Set-Cookie) what the upstream set through the tunnel.
 *
 * When it runs:
 *  - before a tunnelled request, if the browser's cookies may have changed since the last sync
 *    (an HTTP request of this page to its origin finished, another tab using this client said so,
 *    or `document.cookie` changed): the update then carries the browser's session;
 *  - after a tunnelled response that set cookies, at once and coalesced; the response is handed
 *    to Livewire only after it when it may leave the page (a redirect in its effects, an HTTP
 *    redirect), and every HTTP request of the page to its origin waits for it first: the browser
 *    never navigates or asks over HTTP with the old session.
 * Cost: one small POST to wiremesh (not to the app) per burst of tunnelled updates that set
 * cookies, and one before the first tunnelled update after HTTP activity.
 *
 * When the server says cookies cannot follow (wiremesh on another host than the page), or the
 * socket offers no session sync, Livewire updates stay on HTTP: never two diverged sessions.
 */
import { deferred, type Deferred } from './deferred.js';
import { DEFAULT_MAX_FRAME_BYTES, frameData, parseSessionFrame, TunnelEvents } from './protocol.js';
import type { StateChange, TunnelSocket } from './socket.js';

export interface SessionInfo {
  readonly sync: boolean;
  readonly reason: string;
  /** The largest frame the server reads: a larger request goes over HTTP. */
  readonly maxFrameBytes: number;
}

export interface SessionSyncOptions {
  /** The socket's own HTTP origin (`https://ws.example.com:443` + pusher's wsPath), where `/wiremesh/session` lives. */
  readonly origin: string;
  readonly fetch: typeof fetch;
  /** Longest wait for the server's `wiremesh:session` answer and for one sync request. */
  readonly timeoutMs: number;
  /** Observes syncs (for logs and tests). */
  readonly onSync?: (why: 'browser-changed' | 'server-set', set: readonly string[]) => void;
}

const CHANNEL = 'wiremesh-livewire-session';

export class SessionSync {
  private info: Promise<SessionInfo & { token: string }> | undefined;
  private infoFor: string | undefined;
  private waiting: Deferred<SessionInfo & { token: string }> | undefined;
  /** How the current connection's question was settled: not yet, by the server's word, or read from a pong. */
  private settled: 'no' | 'answer' | 'guess' = 'no';
  /** The browser's cookies may differ from the jar's. */
  private dirty = false;
  /** The jar has cookies the browser has not been given. */
  private pending = false;
  private running: Promise<void> | undefined;
  private again = false;
  private cookieSnapshot: string | undefined;
  private readonly channel: BroadcastChannel | undefined;

  constructor(
    private readonly socket: TunnelSocket,
    private readonly options: SessionSyncOptions,
  ) {
    socket.connection.bind('message', this.onMessage);
    socket.connection.bind('state_change', this.onStateChange);
    this.cookieSnapshot = readCookies();
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : undefined;
    if (this.channel) this.channel.onmessage = () => this.browserChanged(false);
  }

  close(): void {
    this.socket.connection.unbind('message', this.onMessage);
    this.socket.connection.unbind('state_change', this.onStateChange);
    this.channel?.close();
  }

  /** Whether this connection's tunnel may carry cookie-bearing requests; asks the server once per connection. */
  async ready(): Promise<SessionInfo> {
    const { sync, reason, maxFrameBytes } = await this.current();
    return { sync, reason, maxFrameBytes };
  }

  /** Before a tunnelled request: brings the jar up to the browser's cookies when they may have changed. */
  async beforeTunnel(): Promise<void> {
    if (readCookies() !== this.cookieSnapshot) this.dirty = true;
    if (this.dirty || this.running) await this.run('browser-changed');
  }

  /** After a tunnelled response that set cookies: hands them to the browser (awaited by the caller when it must). */
  serverSet(): Promise<void> {
    this.pending = true;
    return this.run('server-set');
  }

  /** Before an HTTP request of the page to its origin: the browser must hold the jar's cookies first. */
  async beforeHttp(): Promise<void> {
    if (this.pending || this.running) await this.run('server-set');
  }

  /** After an HTTP request of the page to its origin: its response may have changed the browser's cookies. */
  browserChanged(tellOthers = true): void {
    this.dirty = true;
    if (tellOthers) this.channel?.postMessage('changed');
  }

  private current(): Promise<SessionInfo & { token: string }> {
    const id = socketId(this.socket);
    if (this.info !== undefined && this.infoFor === id) return this.info;
    this.infoFor = id;
    this.settled = 'no';
    const wait = deferred<SessionInfo & { token: string }>();
    this.waiting = wait;
    const timer = setTimeout(() => {
      if (this.settled === 'no') this.settled = 'guess';
      wait.resolve({
        sync: false,
        reason: 'the server did not answer wiremesh:session',
        token: '',
        maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      });
    }, this.options.timeoutMs);
    void wait.promise.then(() => clearTimeout(timer));
    // The page's age dates the cookies the handshake carried (its response set them).
    // The ping is a barrier: a server answers a connection's frames in order, and wiremesh answers
    // `wiremesh:session` at once, so a pong before the answer means this server has no tunnel
    // (plain Soketi or Pusher ignore the event; wiremesh without `livewire` refuses it).
    if (
      !this.socket.send_event(TunnelEvents.session, { pageAgeMs: Math.round(performance.now()) }) ||
      !this.socket.send_event('pusher:ping', {})
    )
      wait.resolve({
        sync: false,
        reason: 'the socket is not connected',
        token: '',
        maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      });
    // A new connection has a new jar, seeded from its handshake; what the old one held for the
    // browser is gone with it. (`dirty` stays: HTTP activity may have followed the handshake.)
    this.pending = false;
    this.info = wait.promise;
    return this.info;
  }

  private run(why: 'browser-changed' | 'server-set'): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const once = async (): Promise<void> => {
      do {
        this.again = false;
        await this.syncOnce(why);
      } while (this.again);
    };
    this.running = once().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async syncOnce(why: 'browser-changed' | 'server-set'): Promise<void> {
    const info = await this.current();
    if (!info.sync) return;
    this.dirty = false;
    this.pending = false;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    try {
      const res = await this.options.fetch.call(globalThis, `${this.options.origin}/wiremesh/session`, {
        method: 'POST',
        credentials: 'include',
        mode: 'cors',
        cache: 'no-store',
        headers: { 'content-type': 'text/plain' },
        body: info.token,
        signal: controller.signal,
      });
      const body = (await res.json().catch(() => ({}))) as { set?: unknown };
      if (!res.ok) throw new Error(`session sync answered ${res.status}`);
      this.cookieSnapshot = readCookies();
      const set = Array.isArray(body.set) ? body.set.filter((n): n is string => typeof n === 'string') : [];
      this.options.onSync?.(why, set);
    } catch {
      // Not synced: the next tunnelled request tries again first (and HTTP requests wait for it).
      this.dirty = true;
      if (why === 'server-set') this.pending = true;
    } finally {
      clearTimeout(timer);
    }
  }

  private readonly onMessage = (message: unknown): void => {
    const waiting = this.waiting;
    if (waiting === undefined) return;
    const frame = parseSessionFrame(message);
    if (frame !== undefined) {
      const answer = frame.sync && frame.token !== '' ? frame : { ...frame, sync: false };
      // A pong taken for "no tunnel" may have answered pusher-js's own earlier ping: the late
      // answer wins, for the next request.
      if (this.settled === 'guess') this.info = Promise.resolve(answer);
      this.settled = 'answer';
      waiting.resolve(answer);
      return;
    }
    const noTunnel = noTunnelReason(message);
    if (noTunnel === undefined || this.settled !== 'no') return;
    this.settled = noTunnel.guess ? 'guess' : 'answer';
    waiting.resolve({ sync: false, reason: noTunnel.reason, token: '', maxFrameBytes: DEFAULT_MAX_FRAME_BYTES });
  };

  private readonly onStateChange = (change: StateChange): void => {
    if (change.current !== 'connected') this.info = undefined;
  };
}

/**
 * Whether a message says this server has no tunnel: wiremesh without `livewire` refuses
 * `wiremesh:session` with a `pusher:error`; a server that ignores it (Soketi, Pusher) answers the
 * ping sent after it first (`guess`: that pong may also answer a ping of pusher-js's own).
 */
function noTunnelReason(message: unknown): { reason: string; guess: boolean } | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { event, data } = message as { event?: unknown; data?: unknown };
  if (event === 'pusher:pong')
    return { reason: 'the server has no Livewire tunnel (no answer to wiremesh:session)', guess: true };
  if (event !== 'pusher:error') return undefined;
  const text = String(frameData(data)?.message ?? (typeof data === 'string' ? data : ''));
  if (!text.includes(TunnelEvents.session)) return undefined;
  return { reason: `the server refused wiremesh:session: ${text.slice(0, 200)}`, guess: false };
}

function socketId(socket: TunnelSocket): string {
  return String((socket.connection as { socket_id?: unknown }).socket_id ?? '');
}

function readCookies(): string | undefined {
  return (globalThis as { document?: { cookie?: string } }).document?.cookie;
}

/** The socket's own HTTP origin, from a pusher-js instance's config; undefined when it has none. */
export function socketOrigin(socket: TunnelSocket): string | undefined {
  const config = (
    socket as { config?: { useTLS?: boolean; wsHost?: string; wsPort?: number; wssPort?: number; wsPath?: string } }
  ).config;
  if (config === undefined || typeof config.wsHost !== 'string' || config.wsHost === '') return undefined;
  const tls = config.useTLS === true;
  const port = tls ? config.wssPort : config.wsPort;
  const host = config.wsHost.includes(':') && !config.wsHost.startsWith('[') ? `[${config.wsHost}]` : config.wsHost;
  return `${tls ? 'https' : 'http'}://${host}${port ? `:${port}` : ''}${config.wsPath ?? ''}`;
}
