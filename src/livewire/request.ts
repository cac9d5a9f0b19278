/**
 * The client's side of the tunnel protocol (docs/livewire-protocol.md): `wiremesh:request` and
 * `wiremesh:abort` data, read and checked. Data without a usable id is a protocol error
 * (PusherError → `pusher:error`); anything else wrong with a request is answered with a fallback,
 * so the client can still send it over HTTP.
 */
import { ErrorCodes, PusherError } from '../errors.js';
import type { FallbackCode } from '../protocol/frames.js';
import { pickClientHeaders } from './headers.js';
import { parseTarget, type Target } from './paths.js';

export const MAX_ID_LENGTH = 64;

export interface TunnelRequest extends Target {
  id: string;
  method: 'GET' | 'POST';
  /** Allowed client headers, lower-case. */
  headers: Record<string, string>;
  body: string;
  /** UTF-8 size of `body`. */
  bodyBytes: number;
}

/** A request the tunnel will not carry; the client sends it over HTTP instead. */
export class Fallback extends Error {
  override readonly name = 'Fallback';
  constructor(
    readonly code: FallbackCode,
    message: string,
  ) {
    super(message);
  }
}

/** The data object of a `wiremesh:*` frame (pusher-js may send it as a JSON string). */
function dataObject(data: unknown, event: string): Record<string, unknown> {
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch (err) {
      throw new PusherError(ErrorCodes.INVALID_MESSAGE, `${event}: data is not valid JSON`, { cause: err });
    }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new PusherError(ErrorCodes.INVALID_MESSAGE, `${event}: data must be an object`);
  }
  return data as Record<string, unknown>;
}

/** The request id, checked. Throws PusherError: without an id, no answer can be matched. */
export function readId(data: unknown, event: string): { id: string; fields: Record<string, unknown> } {
  const fields = dataObject(data, event);
  const id = fields.id;
  if (typeof id !== 'string' || id === '' || id.length > MAX_ID_LENGTH) {
    throw new PusherError(
      ErrorCodes.INVALID_MESSAGE,
      `${event}: id must be a string of 1 to ${MAX_ID_LENGTH} characters`,
    );
  }
  return { id, fields };
}

/** The rest of a `wiremesh:request`. Throws Fallback(`not_allowed`) on anything the tunnel refuses. */
export function readRequest(id: string, fields: Record<string, unknown>): TunnelRequest {
  const { method, path, headers, body } = fields;
  if (method !== 'GET' && method !== 'POST') throw new Fallback('not_allowed', 'method must be GET or POST');
  const target = parseTarget(path);
  if ('refused' in target) throw new Fallback('not_allowed', target.refused);
  const picked = pickClientHeaders(headers);
  if ('refused' in picked) throw new Fallback('not_allowed', picked.refused);
  if (body !== undefined && body !== null && typeof body !== 'string')
    throw new Fallback('not_allowed', 'body must be a string');
  const text = typeof body === 'string' ? body : '';
  if (method === 'GET' && text !== '') throw new Fallback('not_allowed', 'a GET request has no body');
  return { id, method, ...target, headers: picked, body: text, bodyBytes: Buffer.byteLength(text) };
}
