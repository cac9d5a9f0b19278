/**
 * Authentication of HTTP API requests, exactly as the Pusher server SDKs sign them:
 * `auth_key`, `auth_timestamp` (within ±600 s), `auth_version=1.0`, `body_md5` of a non-empty body,
 * and `auth_signature` = HMAC-SHA256(secret, "METHOD\nPATH\nsorted query").
 */
import type { AppConfig } from '../config/schema.js';
import { httpError } from '../errors.js';
import { apiStringToSign, hmacHex, md5Hex, safeEqual } from '../protocol/signature.js';

export const MAX_CLOCK_SKEW_S = 600;

/** Parses a raw query string into a map of first values (signature uses raw decoded values). */
export function parseQuery(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) if (!(k in out)) out[k] = v;
  return out;
}

export function verifyApiRequest(
  app: AppConfig,
  method: string,
  path: string,
  query: Record<string, string>,
  body: Buffer,
  nowMs: number,
): void {
  const { auth_key, auth_timestamp, auth_signature, body_md5 } = query;
  if (!auth_key || !auth_timestamp || !auth_signature) {
    throw httpError(401, 'Missing auth_key, auth_timestamp or auth_signature');
  }
  if (auth_key !== app.key) throw httpError(401, 'Unknown auth_key for this app');
  const ts = Number(auth_timestamp);
  if (!Number.isFinite(ts)) throw httpError(401, 'auth_timestamp is not a number');
  const skew = Math.abs(nowMs / 1000 - ts);
  if (skew > MAX_CLOCK_SKEW_S) {
    throw httpError(401, `auth_timestamp is ${Math.round(skew)} s away from server time (at most ${MAX_CLOCK_SKEW_S} s allowed)`);
  }
  if (body.length > 0) {
    if (!body_md5) throw httpError(401, 'body_md5 is required for a request with a body');
    if (!safeEqual(body_md5, md5Hex(body))) throw httpError(401, 'body_md5 does not match the body');
  }
  const expected = hmacHex(app.secret, apiStringToSign(method, path, query));
  if (!safeEqual(auth_signature, expected)) throw httpError(401, 'Invalid signature');
}
