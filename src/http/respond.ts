/** The one place an error (or a result) becomes an HTTP response. */
import { PusherError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { HttpResponse } from '../transport/types.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

export function json(body: unknown, status = 200): HttpResponse {
  return { status, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

export function text(body: string, status = 200, contentType = 'text/plain; charset=utf-8'): HttpResponse {
  return { status, headers: { 'content-type': contentType }, body };
}

export function errorResponse(err: unknown, logger: Logger): HttpResponse {
  if (err instanceof PusherError) return json({ error: err.message }, err.status);
  logger.error('http api handler failed', { err });
  return json({ error: 'Internal server error' }, 500);
}
