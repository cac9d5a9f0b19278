/**
 * Authentication of HTTP API requests, exactly as the Pusher server SDKs sign them:
 * `auth_key`, `auth_timestamp` (within ±600 s), `auth_version=1.0`, `body_md5` of a non-empty body,
 * and `auth_signature` = HMAC-SHA256(secret, "METHOD\nPATH\nsorted query").
 */
import type { AppConfig } from '../config/schema.js';
import { httpError } from '../errors.js';
import { apiParamsToSign, hmacHex, md5Hex, safeEqual } from '../protocol/signature.js';

export const MAX_CLOCK_SKEW_S = 600;

/** A request's query: first value per name, and the signed part when it could be read off the raw text. */
export interface ApiQuery {
  /** First value of each parameter, decoded as URLSearchParams decodes. */
  params: Record<string, string>;
  /**
   * What `apiParamsToSign(params)` would build, taken from the raw query in the same pass when the
   * raw query already is in that form (the SDKs send it so): printable ASCII without `%` or `+`,
   * every parameter `name=value`, lower-case names in strictly increasing order apart from
   * auth_signature. Null when it is not; the caller then builds it from `params`.
   */
  signed: string | null;
  /** The first name given more than once (refused: what is read and what was signed must not diverge). */
  duplicate: string | null;
}

/** Anything URLSearchParams would decode (percent, plus, non-printable or non-ASCII); it also drops a leading `?`. */
const NEEDS_DECODING = /[^\x20-\x7e]|[%+]/;

/** Parses a raw query string into a map of first values (signature uses raw decoded values). */
export function parseQuery(raw: string): ApiQuery {
  // No prototype: a parameter named `constructor` or `__proto__` is a parameter like any other.
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  let duplicate: string | null = null;
  // Names as signed (lower-cased: signature.ts): `auth_key` and `AUTH_KEY` are one parameter given twice.
  const seen = new Set<string>();
  const first = (name: string): boolean => {
    const key = name.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };
  if (NEEDS_DECODING.test(raw) || raw.startsWith('?')) {
    for (const [k, v] of new URLSearchParams(raw)) {
      if (first(k)) params[k] = v;
      else duplicate ??= k;
    }
    return { params, signed: null, duplicate };
  }
  let canonical = true;
  let prev = '';
  // Where the auth_signature piece is: the signed part is the raw query without it.
  let sigFrom = -1;
  let sigTo = -1;
  for (let start = 0; start <= raw.length;) {
    let end = raw.indexOf('&', start);
    if (end < 0) end = raw.length;
    if (end === start) {
      // As URLSearchParams: an empty piece is skipped (it is not part of the signed text).
      if (raw.length > 0) canonical = false;
    } else {
      // As URLSearchParams: a piece without `=` has the value ''.
      const eq = raw.indexOf('=', start);
      const hasValue = eq >= 0 && eq < end;
      const name = raw.slice(start, hasValue ? eq : end);
      if (!first(name)) {
        canonical = false;
        duplicate ??= name;
      } else {
        params[name] = hasValue ? raw.slice(eq + 1, end) : '';
      }
      if (canonical) {
        if (name === 'auth_signature') {
          sigFrom = start;
          sigTo = end;
        } else if (hasValue && name > prev && isLowerCase(name)) {
          prev = name;
        } else {
          canonical = false;
        }
      }
    }
    start = end + 1;
  }
  if (!canonical) return { params, signed: null, duplicate };
  if (sigFrom < 0) return { params, signed: raw, duplicate };
  if (sigTo === raw.length) return { params, signed: raw.slice(0, Math.max(0, sigFrom - 1)), duplicate };
  return { params, signed: raw.slice(0, sigFrom) + raw.slice(sigTo + 1), duplicate };
}

/** No A–Z (the caller has made sure the text is ASCII). */
function isLowerCase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return false;
  }
  return true;
}

/** Seconds since the epoch, in decimal digits only (no hex, exponent, sign or spaces, as Number() would allow). */
const DECIMAL_TIMESTAMP = /^\d{1,15}$/;

/**
 * Checks the request as signed. With `body` null (the head, before the body is read) everything
 * but `body_md5` is checked, so no body is read for a request that is not signed by the app.
 */
export function verifyApiRequest(
  app: AppConfig,
  method: string,
  path: string,
  query: ApiQuery,
  body: Buffer | null,
  nowMs: number,
): void {
  if (query.duplicate !== null)
    throw httpError(400, `Query parameter ${JSON.stringify(query.duplicate.slice(0, 100))} is given more than once`);
  const { auth_key, auth_timestamp, auth_signature, auth_version, body_md5 } = query.params;
  if (!auth_key || !auth_timestamp || !auth_signature) {
    throw httpError(401, 'Missing auth_key, auth_timestamp or auth_signature');
  }
  if (auth_key !== app.key) throw httpError(401, 'Unknown auth_key for this app');
  if (auth_version !== undefined && auth_version !== '1.0') throw httpError(401, 'auth_version must be 1.0');
  if (!DECIMAL_TIMESTAMP.test(auth_timestamp))
    throw httpError(401, 'auth_timestamp must be a decimal number of seconds');
  const ts = Number(auth_timestamp);
  const skew = Math.abs(nowMs / 1000 - ts);
  if (skew > MAX_CLOCK_SKEW_S) {
    throw httpError(
      401,
      `auth_timestamp is ${Math.round(skew)} s away from server time (at most ${MAX_CLOCK_SKEW_S} s allowed)`,
    );
  }
  if (body !== null && body.length > 0) {
    if (!body_md5) throw httpError(401, 'body_md5 is required for a request with a body');
    if (!safeEqual(body_md5, md5Hex(body))) throw httpError(401, 'body_md5 does not match the body');
  }
  const signed = query.signed ?? apiParamsToSign(query.params);
  const expected = hmacHex(app.secret, `${method.toUpperCase()}\n${path}\n${signed}`);
  if (!safeEqual(auth_signature, expected)) throw httpError(401, 'Invalid signature');
}
