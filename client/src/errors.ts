/**
 * Errors of the browser client. What Livewire sees is always what `fetch` itself would throw:
 * a `TypeError` for a network failure (with a `TunnelError` as its `cause`, for debugging), or the
 * signal's `AbortError` `DOMException`. Bad options fail at install with a `ConfigError`.
 */

export type TunnelErrorCode =
  /** No response frame (or, while streaming, no chunk) within `timeoutMs`. */
  | 'timeout'
  /** The socket left the `connected` state while the request was in flight. */
  | 'disconnected'
  /** The server cut a streamed body short (the backend failed, or the body grew too large). */
  | 'incomplete'
  /** The server sent a frame we cannot use for this request. */
  | 'protocol'
  /** The socket threw while sending the request. */
  | 'send-failed';

export class TunnelError extends Error {
  override readonly name = 'TunnelError';
  readonly code: TunnelErrorCode;

  constructor(code: TunnelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The rejection a browser's `fetch` gives for a network failure ("Failed to fetch"). */
export function networkError(cause: TunnelError): TypeError {
  return new TypeError('Failed to fetch', { cause });
}

/** The rejection `fetch` gives for an aborted signal: its reason, an `AbortError` by default. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** Surfaces an error from a callback run in the background the way an uncaught one would be. */
export function rethrowLater(error: unknown): void {
  setTimeout(() => {
    throw error;
  }, 0);
}
