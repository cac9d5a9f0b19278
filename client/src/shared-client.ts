/**
 * OPTIONAL page side of the SharedWorker mode: `connectShared` returns a socket the transport
 * uses in place of a pusher-js instance (`send_event`, `connection.state`, `connection.bind`),
 * backed by the one connection the worker holds for every tab. Where `SharedWorker` does not
 * exist (Chrome for Android before 2024, some WebViews) it opens a normal per-page pusher-js
 * connection instead, with the `Pusher` class given or `window.Pusher`.
 *
 *   const socket = connectShared({ workerUrl: '/js/wiremesh-shared-worker.js', key, options: { wsHost, wsPort, forceTLS, cluster } });
 *   installLivewireTransport({ pusher: socket });
 */
import { ConfigError } from './errors.js';
import { isEnvelope, pageMessage, type PortLike, type WorkerMessage } from './shared-protocol.js';
import type { TunnelSocket } from './socket.js';

export interface SharedConnectOptions {
  /** URL of `wiremesh-shared-worker.js`, same origin as the page. */
  readonly workerUrl: string | URL;
  /** The Pusher/Reverb app key. */
  readonly key: string;
  /** pusher-js options; must be structured-cloneable when a SharedWorker is used. */
  readonly options?: Record<string, unknown>;
  /** pusher-js class for the per-page fallback. Default `window.Pusher`. */
  readonly Pusher?: new (key: string, options: Record<string, unknown>) => TunnelSocket & { disconnect(): void };
  /**
   * Chromium's `extendedLifetime`: the worker (and its socket) outlives its last page, so a full
   * page load of a single tab keeps the socket. Without it the worker ends with the last page of
   * the origin that uses it, and the next page load opens a new socket (measured in Chromium; see
   * test/fixtures/SHAREDWORKER.md). Ignored by browsers without it. A worker kept alive with no page
   * still holds its socket (presence and `toOthers()` see it) until the browser ends it. Default false.
   */
  readonly extendedLifetime?: boolean;
  /**
   * SharedWorker name; pages with the same URL and name share one worker. Default `wiremesh`, or
   * `wiremesh-extended` with `extendedLifetime` (Chromium refuses to join a running worker whose
   * option differs, so the two modes never share a name).
   */
  readonly name?: string;
}

export interface SharedSocket extends TunnelSocket {
  /** true: the connection lives in the SharedWorker; false: a per-page fallback connection. */
  readonly shared: boolean;
  /** Leaves the worker (or disconnects the per-page connection). */
  close(): void;
}

type Listener = (payload: unknown) => void;

export function connectShared(options: SharedConnectOptions): SharedSocket {
  if (typeof options.key !== 'string' || options.key === '')
    throw new ConfigError('connectShared: key must be the app key');
  const SharedWorkerClass = (globalThis as { SharedWorker?: typeof SharedWorker }).SharedWorker;
  if (SharedWorkerClass === undefined) return perPage(options);
  const extendedLifetime = options.extendedLifetime === true;
  const workerOptions = {
    name: options.name ?? (extendedLifetime ? 'wiremesh-extended' : 'wiremesh'),
    extendedLifetime,
  };
  const worker = new SharedWorkerClass(options.workerUrl, workerOptions as WorkerOptions);
  return portSocket(worker.port as unknown as PortLike, options.key, options.options ?? {});
}

/** A socket over a port to the relay. Exported for tests, which use a MessageChannel. */
export function portSocket(port: PortLike, key: string, pusherOptions: Record<string, unknown>): SharedSocket {
  let state = 'connecting';
  const listeners = new Map<string, Set<Listener>>();
  const emit = (event: string, payload: unknown): void => {
    for (const listener of [...(listeners.get(event) ?? [])]) listener(payload);
  };
  port.onmessage = (event) => {
    const message = event.data;
    if (!isEnvelope<WorkerMessage>(message)) return;
    if (message.type === 'message') return emit('message', message.message);
    const previous = state;
    state = message.current;
    if (previous !== state) {
      emit('state_change', { previous, current: state });
      emit(state, undefined);
    }
  };
  port.start?.();
  port.postMessage(pageMessage.hello(key, pusherOptions));

  const win = globalThis as {
    addEventListener?(type: string, listener: (event: { persisted?: boolean }) => void): void;
  };
  win.addEventListener?.('pagehide', () => port.postMessage(pageMessage.bye()));
  win.addEventListener?.('pageshow', (event) => {
    if (event.persisted) port.postMessage(pageMessage.hello(key, pusherOptions)); // back from the bfcache
  });

  return {
    shared: true,
    send_event(event, data) {
      if (state !== 'connected') return false;
      port.postMessage(pageMessage.send(event, data));
      return true;
    },
    connection: {
      get state() {
        return state;
      },
      bind(event: string, callback: Listener) {
        let set = listeners.get(event);
        if (set === undefined) listeners.set(event, (set = new Set()));
        set.add(callback);
      },
      unbind(event: string, callback: Listener) {
        listeners.get(event)?.delete(callback);
      },
    },
    close() {
      port.postMessage(pageMessage.bye());
      port.close?.();
    },
  };
}

function perPage(options: SharedConnectOptions): SharedSocket {
  const PusherClass = options.Pusher ?? (globalThis as { Pusher?: SharedConnectOptions['Pusher'] }).Pusher;
  if (PusherClass === undefined) {
    throw new ConfigError(
      'connectShared: SharedWorker is not available and no Pusher class was given (options.Pusher or window.Pusher)',
    );
  }
  const pusher = new PusherClass(options.key, options.options ?? {});
  return {
    shared: false,
    send_event: (event, data) => pusher.send_event(event, data),
    connection: pusher.connection,
    close: () => pusher.disconnect(),
  };
}
