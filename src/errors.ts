/**
 * One error class for everything the Pusher protocol or HTTP API can refuse. Each carries the
 * Pusher error code (WebSocket close/`pusher:error` code) or an HTTP status; conversion to a
 * frame or an HTTP response happens in exactly one place each (protocol/frames.ts, http/respond.ts).
 */
export const ErrorCodes = {
  /** 4000–4099: the client must not reconnect. */
  SSL_ONLY: 4000,
  APP_NOT_FOUND: 4001,
  APP_DISABLED: 4003,
  OVER_CONNECTION_QUOTA: 4004,
  PATH_NOT_FOUND: 4005,
  INVALID_VERSION: 4006,
  UNSUPPORTED_PROTOCOL: 4007,
  NO_PROTOCOL: 4008,
  UNAUTHORIZED: 4009,
  /** 4100–4199: reconnect after backing off. */
  OVER_CAPACITY: 4100,
  /** 4200–4299: reconnect at once. */
  RECONNECT: 4200,
  PONG_NOT_RECEIVED: 4201,
  CLOSED_INACTIVE: 4202,
  /** 4300–4399: other errors (connection stays open unless said otherwise). */
  CLIENT_EVENT_RATE_LIMIT: 4301,
  /** Frame could not be understood (malformed JSON, bad shape). Connection stays open. */
  INVALID_MESSAGE: 4302,
  /** A frame or payload above the configured size. */
  MESSAGE_TOO_LARGE: 4303,
  /** Sign-in did not happen within the configured time. */
  SIGNIN_TIMEOUT: 4009,
} as const;

export class PusherError extends Error {
  override readonly name = 'PusherError';
  /** Pusher protocol code, or null for errors that have none (subscription errors). */
  readonly code: number | null;
  /** HTTP status used when this error answers an HTTP API call. */
  readonly status: number;
  /** When true the WebSocket is closed with `code` after the error frame is sent. */
  readonly fatal: boolean;

  constructor(
    code: number | null,
    message: string,
    options: { status?: number; fatal?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? 400;
    this.fatal = options.fatal ?? false;
  }
}

/** A refusal of an HTTP API request, with the status SDKs act on. */
export function httpError(status: number, message: string, cause?: unknown): PusherError {
  return new PusherError(null, message, { status, cause });
}

/** A protocol error that ends the connection with `code`. */
export function fatalError(code: number, message: string): PusherError {
  return new PusherError(code, message, { fatal: true });
}
