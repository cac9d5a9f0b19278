/**
 * Every signature of the Pusher protocol: channel authorization, user authentication and the
 * HTTP API's request signing. HMAC-SHA256 with the app secret, hex-encoded, compared in constant time.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export function hmacHex(secret: string, message: string | Buffer): string {
  return createHmac('sha256', secret).update(message).digest('hex');
}

export function md5Hex(body: string | Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

/** Constant-time comparison of two hex/ASCII strings. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
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
export function verifyUserAuth(app: { key: string; secret: string }, auth: string, socketId: string, userData: string): boolean {
  const sep = auth.indexOf(':');
  if (sep < 0 || auth.slice(0, sep) !== app.key) return false;
  return safeEqual(auth.slice(sep + 1), hmacHex(app.secret, `${socketId}::user::${userData}`));
}

/**
 * The string the HTTP API signs: `METHOD\nPATH\nSORTED_QUERY`, where the query holds every parameter
 * except `auth_signature`, keys lower-cased and sorted, joined as `k=v` with `&` (values not re-encoded).
 */
export function apiStringToSign(method: string, path: string, query: Record<string, string>): string {
  const params = Object.keys(query)
    .filter((k) => k !== 'auth_signature')
    .map((k) => [k.toLowerCase(), query[k] as string] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  return `${method.toUpperCase()}\n${path}\n${params}`;
}
