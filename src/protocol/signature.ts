/**
 * Every signature of the Pusher protocol: channel authorization, user authentication and the
 * HTTP API's request signing. HMAC-SHA256 with the app secret, hex-encoded, compared in constant time.
 */
import * as crypto from 'node:crypto';
import { createHash, createHmac } from 'node:crypto';

type OneShotHash = {
  (algorithm: string, data: string | Buffer, encoding: 'hex'): string;
  (algorithm: string, data: string | Buffer, encoding: 'buffer'): Buffer;
};
/**
 * One-shot `crypto.hash` (Node ≥ 20.12, else undefined): a fraction of the cost of a Hash or Hmac
 * object, whose construction dominates for the short inputs signed here.
 */
const oneShotHash = (crypto as { hash?: OneShotHash }).hash;

/** SHA-256 block size; HMAC pads the key to it. */
const BLOCK = 64;

/** HMAC-SHA256 key pads (RFC 2104) per secret: apps are few, their secrets fixed. */
interface Pads {
  /** key ⊕ ipad, then room for the message. */
  inner: Buffer;
  /** key ⊕ opad, then the 32-byte inner digest. */
  outer: Buffer;
}
const pads = new Map<string, Pads>();
const MAX_PADS = 1000;

function padsOf(secret: string): Pads {
  let p = pads.get(secret);
  if (p !== undefined) return p;
  let key = Buffer.from(secret);
  if (key.length > BLOCK) key = createHash('sha256').update(key).digest();
  p = { inner: Buffer.alloc(BLOCK + 256, 0x36), outer: Buffer.alloc(BLOCK + 32, 0x5c) };
  for (let i = 0; i < key.length; i++) {
    const k = key[i] as number;
    p.inner[i] = (p.inner[i] as number) ^ k;
    p.outer[i] = (p.outer[i] as number) ^ k;
  }
  if (pads.size < MAX_PADS) pads.set(secret, p);
  return p;
}

/** HMAC-SHA256(secret, message) in hex. */
export function hmacHex(secret: string, message: string | Buffer): string {
  if (!oneShotHash) return createHmac('sha256', secret).update(message).digest('hex');
  // RFC 2104 with two one-shot hashes: H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)).
  const p = padsOf(secret);
  const size = typeof message === 'string' ? Buffer.byteLength(message) : message.length;
  if (BLOCK + size > p.inner.length) {
    const grown = Buffer.allocUnsafe(BLOCK + Math.max(size, 2 * (p.inner.length - BLOCK)));
    p.inner.copy(grown, 0, 0, BLOCK);
    p.inner = grown;
  }
  if (typeof message === 'string') p.inner.write(message, BLOCK, 'utf8');
  else message.copy(p.inner, BLOCK);
  oneShotHash('sha256', p.inner.subarray(0, BLOCK + size), 'buffer').copy(p.outer, BLOCK);
  return oneShotHash('sha256', p.outer, 'hex');
}

export function md5Hex(body: string | Buffer): string {
  return oneShotHash ? oneShotHash('md5', body, 'hex') : createHash('md5').update(body).digest('hex');
}

/**
 * Comparison of two strings in time that depends on their lengths only (the length of a hex
 * signature is public), never on where they differ: every code unit is compared.
 */
export function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** String signed for a private/encrypted channel (`socket_id:channel`) or presence (`…:channel_data`). */
export function channelAuthString(socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
}

/** Checks an `auth` value of the form `key:signature` for a subscription. */
export function verifyChannelAuth(
  app: { key: string; secret: string },
  auth: string,
  socketId: string,
  channel: string,
  channelData?: string,
): boolean {
  const sep = auth.indexOf(':');
  if (sep < 0 || auth.slice(0, sep) !== app.key) return false;
  return safeEqual(auth.slice(sep + 1), hmacHex(app.secret, channelAuthString(socketId, channel, channelData)));
}

/** Checks a `pusher:signin` auth: signature over `socket_id::user::user_data`. */
export function verifyUserAuth(
  app: { key: string; secret: string },
  auth: string,
  socketId: string,
  userData: string,
): boolean {
  const sep = auth.indexOf(':');
  if (sep < 0 || auth.slice(0, sep) !== app.key) return false;
  return safeEqual(auth.slice(sep + 1), hmacHex(app.secret, `${socketId}::user::${userData}`));
}

/**
 * `path` with the query a Pusher SDK signs an HTTP API request with: `auth_key`, `auth_timestamp`
 * (now), `auth_version`, `body_md5` when there is a body, and `auth_signature` over them.
 */
export function signedApiPath(
  app: { readonly key: string; readonly secret: string },
  method: string,
  path: string,
  body?: string,
): string {
  const query: Record<string, string> = {
    auth_key: app.key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
  };
  if (body !== undefined) query.body_md5 = md5Hex(body);
  const signature = hmacHex(app.secret, apiStringToSign(method, path, query));
  return `${path}?${new URLSearchParams({ ...query, auth_signature: signature })}`;
}

/** The string the HTTP API signs: `METHOD\nPATH\nSORTED_QUERY` (see `apiParamsToSign`). */
export function apiStringToSign(method: string, path: string, query: Record<string, string>): string {
  return `${method.toUpperCase()}\n${path}\n${apiParamsToSign(query)}`;
}

/**
 * The query part of the string the HTTP API signs (`METHOD\nPATH\nSORTED_QUERY`): every parameter
 * except `auth_signature`, keys lower-cased and sorted, joined as `k=v` with `&` (values not re-encoded).
 */
export function apiParamsToSign(query: Record<string, string>): string {
  return Object.keys(query)
    .filter((k) => k !== 'auth_signature')
    .map((k) => [k.toLowerCase(), query[k] as string] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}
