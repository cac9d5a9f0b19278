/**
 * Requests over the socket: ids, the in-flight map, timeouts, aborts, streamed bodies.
 *
 * Guarantees: every `send` settles exactly once — with a Response, a "not sent"/"fallback"
 * outcome (nothing was executed: the caller may use HTTP), or a rejection (abort: the signal's
 * reason; timeout, disconnect, bad frame: `TypeError('Failed to fetch')`). A request is never
 * sent twice. Frames for ids no longer in flight are ignored.
 */
import { deferred, type Deferred } from './deferred.js';
import { abortReason, networkError, TunnelError, type TunnelErrorCode } from './errors.js';
import {
  abortFrame,
  MAX_ID_LENGTH,
  parseServerFrame,
  requestFrame,
  TunnelEvents,
  type ResponseFrame,
} from './protocol.js';
import type { TunnelRequest } from './request.js';
import { synthesizeResponse } from './response.js';
import type { StateChange, TunnelSocket } from './socket.js';

export type TunnelOutcome =
  /** The socket wrote nothing: no byte of the request left the page. */
  | { readonly kind: 'not-sent' }
  /** Its frame would exceed the server's frame limit (which would drop the socket): not sent. */
  | { readonly kind: 'too-large'; readonly bytes: number; readonly limit: number }
  /** The server declined to execute it. */
  | { readonly kind: 'fallback'; readonly reason: string; readonly code: string | number }
  | {
      readonly kind: 'response';
      readonly response: Response;
      readonly setCookies: readonly string[];
      /** Resolves (never rejects) once the body has ended, completely or not. */
      readonly settled: Promise<void>;
    };

export interface TunnelHooks {
  /** A response or fallback frame arrived: the socket works. */
  onSocketSuccess(): void;
  /** A request was lost to a timeout or a disconnect (once per disconnect). */
  onSocketFailure(code: TunnelErrorCode): void;
}

export interface TunnelOptions {
  /** Longest wait for the response frame, and between chunk frames of a streamed body. */
  readonly timeoutMs: number;
  readonly hooks: TunnelHooks;
  readonly newId?: () => string;
}

interface Pending {
  readonly id: string;
  readonly request: TunnelRequest;
  readonly outcome: Deferred<TunnelOutcome>;
  readonly settled: Deferred<void>;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Set once the response frame arrived with `done: false`. */
  stream: ReadableStreamDefaultController<Uint8Array> | undefined;
}

const encoder = new TextEncoder();

export class Tunnel {
  private readonly pending = new Map<string, Pending>();
  private readonly newId: () => string;
  private attached = false;
  private closing = false;

  constructor(
    private readonly socket: TunnelSocket,
    private readonly options: TunnelOptions,
  ) {
    this.newId = options.newId ?? randomIds();
  }

  /** Sends one request whose frame fits in `maxFrameBytes`. Call only while the socket is `connected`. */
  async send(request: TunnelRequest, signal?: AbortSignal, maxFrameBytes = Infinity): Promise<TunnelOutcome> {
    if (signal?.aborted) throw abortReason(signal);
    if (this.closing) return { kind: 'not-sent' };
    const id = this.newId();
    const frame = requestFrame(id, request);
    // The frame as pusher-js writes it ({event, data} as JSON), in UTF-8 bytes.
    const bytes = encoder.encode(JSON.stringify({ event: TunnelEvents.request, data: frame })).length;
    if (bytes > maxFrameBytes) return { kind: 'too-large', bytes, limit: maxFrameBytes };
    this.attach();
    const entry: Pending = {
      id,
      request,
      outcome: deferred<TunnelOutcome>(),
      settled: deferred<void>(),
      signal,
      onAbort: () => this.fail(entry, signal === undefined ? undefined : abortReason(signal), true),
      timer: undefined,
      stream: undefined,
    };
    this.pending.set(id, entry);
    let sent: boolean;
    try {
      sent = this.socket.send_event(TunnelEvents.request, frame);
    } catch (cause) {
      this.finish(entry);
      throw networkError(new TunnelError('send-failed', 'the socket threw while sending the request', { cause }));
    }
    if (!sent) {
      this.finish(entry);
      return { kind: 'not-sent' };
    }
    signal?.addEventListener('abort', entry.onAbort, { once: true });
    this.arm(entry);
    return entry.outcome.promise;
  }

  /** Stops taking requests; listeners go once the requests in flight have ended. */
  close(): void {
    this.closing = true;
    if (this.pending.size === 0) this.detach();
  }

  private readonly onMessage = (message: unknown): void => {
    const parsed = parseServerFrame(message);
    if (parsed === undefined) return;
    const entry = this.pending.get(parsed.type === 'invalid' ? parsed.id : parsed.frame.id);
    if (entry === undefined) return; // ended already (aborted, timed out) or another tab's
    switch (parsed.type) {
      case 'response':
        if (entry.stream !== undefined) return this.protocolError(entry, 'a second response frame');
        return this.respond(entry, parsed.frame);
      case 'chunk': {
        if (entry.stream === undefined) return this.protocolError(entry, 'a chunk before the response frame');
        const { chunk, done, error } = parsed.frame;
        if (chunk !== '') entry.stream.enqueue(encoder.encode(chunk));
        if (error !== undefined) {
          // The body was cut short: fetch errors a body that breaks off the same way.
          return this.fail(entry, networkError(new TunnelError('incomplete', `wiremesh tunnel: ${error}`)), false);
        }
        if (done) {
          entry.stream.close();
          return this.finish(entry);
        }
        return this.arm(entry);
      }
      case 'fallback':
        if (entry.stream !== undefined) return this.protocolError(entry, 'a fallback after the response frame');
        this.options.hooks.onSocketSuccess(); // declined, but the round trip worked
        this.finish(entry);
        return entry.outcome.resolve({ kind: 'fallback', reason: parsed.frame.reason, code: parsed.frame.code });
      case 'invalid':
        return this.protocolError(entry, parsed.problem);
    }
  };

  private readonly onStateChange = (change: StateChange): void => {
    if (change.current === 'connected' || this.pending.size === 0) return;
    // The answer can only come back on the socket that carried the request: it is lost. The
    // backend may have executed it, so it is not replayed; the caller sees a network failure.
    const lost = new TunnelError('disconnected', `the socket went ${change.current} with the request in flight`);
    for (const entry of [...this.pending.values()]) this.fail(entry, networkError(lost), false);
    this.options.hooks.onSocketFailure('disconnected');
  };

  private respond(entry: Pending, frame: ResponseFrame): void {
    this.options.hooks.onSocketSuccess();
    let body: string | ReadableStream<Uint8Array> = frame.body;
    if (!frame.done) {
      body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          entry.stream = controller;
          if (frame.body !== '') controller.enqueue(encoder.encode(frame.body));
        },
        cancel: () => {
          if (this.pending.get(entry.id) !== entry) return;
          this.sendAbort(entry.id);
          this.finish(entry);
        },
      });
    }
    let response: Response;
    try {
      response = synthesizeResponse(frame, body, entry.request.url);
    } catch (cause) {
      return this.protocolError(entry, `unusable response: ${String(cause)}`);
    }
    const outcome = {
      kind: 'response',
      response,
      setCookies: frame.setCookies,
      settled: entry.settled.promise,
    } as const;
    if (frame.done) this.finish(entry);
    else this.arm(entry);
    entry.outcome.resolve(outcome);
  }

  private protocolError(entry: Pending, problem: string): void {
    this.fail(entry, networkError(new TunnelError('protocol', `wiremesh tunnel: ${problem}`)), true);
  }

  /** Ends a request with an error: rejects the fetch, or errors the body being streamed. */
  private fail(entry: Pending, error: unknown, tellServer: boolean): void {
    if (this.pending.get(entry.id) !== entry) return;
    if (entry.stream !== undefined) entry.stream.error(error);
    else entry.outcome.reject(error);
    if (tellServer) this.sendAbort(entry.id);
    this.finish(entry);
  }

  private arm(entry: Pending): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      const waited = entry.stream === undefined ? 'the response' : 'the next chunk';
      const error = new TunnelError('timeout', `no answer for ${waited} within ${this.options.timeoutMs} ms`);
      this.fail(entry, networkError(error), true);
      this.options.hooks.onSocketFailure('timeout');
    }, this.options.timeoutMs);
  }

  private finish(entry: Pending): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.signal?.removeEventListener('abort', entry.onAbort);
    if (this.pending.get(entry.id) === entry) this.pending.delete(entry.id);
    entry.settled.resolve();
    if (this.closing && this.pending.size === 0) this.detach();
  }

  private sendAbort(id: string): void {
    if (this.socket.connection.state !== 'connected') return;
    this.socket.send_event(TunnelEvents.abort, abortFrame(id));
  }

  private attach(): void {
    if (this.attached) return;
    this.attached = true;
    this.socket.connection.bind('message', this.onMessage);
    this.socket.connection.bind('state_change', this.onStateChange);
  }

  private detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.socket.connection.unbind('message', this.onMessage);
    this.socket.connection.unbind('state_change', this.onStateChange);
  }
}

/**
 * Ids unique across the tabs sharing a socket: a random page prefix and a counter. Not
 * `crypto.randomUUID()`, which only exists in secure contexts.
 */
export function randomIds(): () => string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  const prefix = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  let counter = 0;
  return () => `${prefix}-${(counter += 1).toString(36)}`.slice(0, MAX_ID_LENGTH);
}
