/**
 * Messages between a page and the optional SharedWorker that holds one socket for all tabs of the
 * origin. Versioned envelopes, built here only.
 */

export type PageMessage =
  /** First message of a port: the worker connects (once, for the first page) and reports its state. */
  | { readonly v: 1; readonly type: 'hello'; readonly key: string; readonly options: Record<string, unknown> }
  | { readonly v: 1; readonly type: 'send'; readonly event: string; readonly data: unknown }
  /** The page is going away (pagehide): its requests in flight are aborted. */
  | { readonly v: 1; readonly type: 'bye' };

export type WorkerMessage =
  | { readonly v: 1; readonly type: 'state'; readonly previous: string; readonly current: string }
  | { readonly v: 1; readonly type: 'message'; readonly message: { readonly event: string; readonly data: unknown } };

export const pageMessage = {
  hello: (key: string, options: Record<string, unknown>): PageMessage => ({ v: 1, type: 'hello', key, options }),
  send: (event: string, data: unknown): PageMessage => ({ v: 1, type: 'send', event, data }),
  bye: (): PageMessage => ({ v: 1, type: 'bye' }),
};

export const workerMessage = {
  state: (previous: string, current: string): WorkerMessage => ({ v: 1, type: 'state', previous, current }),
  message: (event: string, data: unknown): WorkerMessage => ({ v: 1, type: 'message', message: { event, data } }),
};

export function isEnvelope<T extends { v: 1; type: string }>(value: unknown): value is T {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { v?: unknown }).v === 1 &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}

/** The part of a MessagePort both sides use (a DOM MessagePort, or Node's in tests). */
export interface PortLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  start?(): void;
  close?(): void;
}
