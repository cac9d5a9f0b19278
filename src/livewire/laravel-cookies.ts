/**
 * What Laravel's encrypted cookies say, to tell a cookie Laravel re-issued unchanged from one that
 * changed. Laravel's EncryptCookies middleware encrypts every cookie it sets with a random IV, and
 * StartSession and VerifyCsrfToken set `laravel_session` and `XSRF-TOKEN` on every response: their
 * values are new each time while their plaintexts (the session id, the CSRF token) stay the same
 * until a login, a logout, a regeneration or an expiry changes them.
 *
 * The format (Illuminate\Encryption\Encrypter, Illuminate\Cookie\CookieValuePrefix): the cookie
 * value, URL-encoded, is base64 of `{"iv","value","mac","tag"}`; AES-128/256-CBC with
 * `mac = hex(HMAC-SHA256(key, iv + value))` over their base64 texts, or AES-128/256-GCM with the
 * tag and no mac (the key's length picks 128 or 256). The plaintext starts with
 * `hex(HMAC-SHA1(key, name + "v2")) + "|"`, binding it to the cookie's name. The cookie session
 * driver (CookieSessionHandler) keeps the session in a cookie named after its id holding
 * `{"data": …, "expires": unix seconds}`: only `data` is its meaning, `expires` moves on every write
 * and is the time Laravel stops accepting it; with `session.encrypt`, `data` is itself a payload.
 *
 * The keys (APP_KEY, then APP_PREVIOUS_KEYS) are used only to verify and decrypt, never to encrypt:
 * nothing here can make a cookie. A value that does not verify under any key means nothing here
 * (undefined), and the caller then treats any new value as a change.
 */
import { createDecipheriv, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { laravelKeyBytes } from '../config/livewire.js';
import type { LivewireConfig } from '../config/schema.js';
import type { CookieMeaning, CookieReader } from './cookies.js';

/** Cookies are at most 4096 bytes (cookies.ts ignores larger ones); more is not Laravel's. */
const MAX_VALUE_CHARS = 8192;
const PREFIX_CHARS = 41;
/** Cookie names whose prefixes are kept. */
const MAX_NAMES = 64;
const CBC_IV_BYTES = 16;
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;

interface Payload {
  iv: string;
  value: string;
  mac: string;
  tag: string;
}

export class LaravelCookies implements CookieReader {
  /**
   * Imported once: handing crypto a Buffer imports the key again on every call, which was most of
   * the ~75 µs a cookie took (two cookies on every Laravel response).
   */
  private readonly keys: readonly KeyObject[];
  /** `cookiePrefix` of each cookie name seen, per key (a handful of names). */
  private readonly prefixes = new Map<string, readonly string[]>();

  /** The current key first, then the previous ones: each 16 or 32 bytes. */
  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0) throw new Error('LaravelCookies needs at least one key');
    for (const key of keys) {
      if (key.length !== 16 && key.length !== 32) throw new Error('a Laravel key is 16 or 32 bytes');
    }
    this.keys = keys.map((key) => createSecretKey(key));
  }

  read(name: string, value: string): CookieMeaning | undefined {
    const plaintext = this.decrypt(value);
    if (plaintext === undefined) return undefined;
    // EncryptCookies::$serialize = true (an app's choice) wraps the value in PHP's serialize().
    const text = /^s:\d+:"[\s\S]*";$/.test(plaintext) ? plaintext.slice(plaintext.indexOf('"') + 1, -2) : plaintext;
    const prefix = text.slice(0, PREFIX_CHARS);
    if (!this.prefixesOf(name).includes(prefix)) return undefined;
    return sessionCookie(prefix, text.slice(PREFIX_CHARS), (data) => this.decrypt(data)) ?? { same: text };
  }

  private prefixesOf(name: string): readonly string[] {
    let known = this.prefixes.get(name);
    if (known === undefined) {
      known = this.keys.map((key) => cookiePrefix(name, key));
      // Names come from the backend's Set-Cookie headers; a backend inventing names cannot grow this.
      if (this.prefixes.size < MAX_NAMES) this.prefixes.set(name, known);
    }
    return known;
  }

  /** The plaintext of an Encrypter payload (a cookie value, URL-encoded or not), or undefined. */
  private decrypt(value: string): string | undefined {
    if (value.length > MAX_VALUE_CHARS) return undefined;
    const payload = parsePayload(value);
    if (payload === undefined) return undefined;
    for (const key of this.keys) {
      const plaintext = payload.tag === '' ? decryptCbc(payload, key) : decryptGcm(payload, key);
      if (plaintext !== undefined) return plaintext;
    }
    return undefined;
  }
}

/** The reader of an app's cookies, from its `laravelKey` and `laravelPreviousKeys`; undefined without a key. */
export function laravelCookies(
  config: Pick<LivewireConfig, 'laravelKey' | 'laravelPreviousKeys'>,
): LaravelCookies | undefined {
  if (config.laravelKey === undefined) return undefined;
  const keys = [config.laravelKey, ...config.laravelPreviousKeys].map((text) => laravelKeyBytes(text));
  if (keys.some((key) => key === undefined))
    throw new Error('livewire.laravelKey: not a Laravel key (unvalidated config)');
  return new LaravelCookies(keys as Buffer[]);
}

/** `hash_hmac('sha1', $name.'v2', $key).'|'`: the start of every cookie plaintext. */
function cookiePrefix(name: string, key: KeyObject): string {
  return `${createHmac('sha1', key).update(`${name}v2`).digest('hex')}|`;
}

function parsePayload(value: string): Payload | undefined {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(decodeURIComponent(value), 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const { iv, value: cipher, mac, tag = '' } = json as Record<string, unknown>;
  if (typeof iv !== 'string' || typeof cipher !== 'string' || typeof mac !== 'string' || typeof tag !== 'string')
    return undefined;
  return { iv, value: cipher, mac, tag };
}

function decryptCbc(p: Payload, key: KeyObject): string | undefined {
  const iv = Buffer.from(p.iv, 'base64');
  if (iv.length !== CBC_IV_BYTES || !/^[0-9a-f]{64}$/.test(p.mac)) return undefined;
  const mac = createHmac('sha256', key)
    .update(p.iv + p.value)
    .digest();
  if (!timingSafeEqual(mac, Buffer.from(p.mac, 'hex'))) return undefined;
  try {
    const decipher = createDecipheriv(key.symmetricKeySize === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, iv);
    return Buffer.concat([decipher.update(p.value, 'base64'), decipher.final()]).toString('utf8');
  } catch {
    // Verified under this key but not decryptable: not a payload of this key after all.
    return undefined;
  }
}

function decryptGcm(p: Payload, key: KeyObject): string | undefined {
  const iv = Buffer.from(p.iv, 'base64');
  const tag = Buffer.from(p.tag, 'base64');
  if (iv.length !== GCM_IV_BYTES || tag.length !== GCM_TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv(key.symmetricKeySize === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(p.value, 'base64'), decipher.final()]).toString('utf8');
  } catch {
    // The tag does not verify under this key.
    return undefined;
  }
}

/**
 * The cookie session driver's `{"data": …, "expires": …}`: the session (`data`, decrypted when
 * `session.encrypt` made it a payload) is the meaning; `expires` is when Laravel stops reading it.
 */
function sessionCookie(
  prefix: string,
  content: string,
  decrypt: (payload: string) => string | undefined,
): CookieMeaning | undefined {
  if (!content.startsWith('{"data":')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return undefined;
  }
  const { data, expires } = parsed as { data?: unknown; expires?: unknown };
  if (typeof data !== 'string' || typeof expires !== 'number') return undefined;
  return { same: `${prefix}session:${decrypt(data) ?? data}`, lapsesAt: expires * 1000 };
}
