/**
 * The cookie jar of one connection: seeded from the WebSocket handshake's Cookie header, updated
 * from the upstream's Set-Cookie headers, sent with the tunnelled requests whose path its Path
 * matches (RFC 6265 §5.1.4; without one, the directory of the request that set it; the
 * handshake's cookies count as Path=/), as a browser would. Domain, Secure and SameSite are
 * ignored, since every cookie of the jar belongs to the one app and the one browser on the other
 * end of this connection. A socket cannot set the browser's
 * cookies: the Set-Cookie headers the upstream sent are kept as `pending` until the browser's
 * session sync (session-sync.ts) hands them to the browser over HTTP and replaces the jar with the
 * browser's own cookies plus those.
 *
 * Only what the browser lacks is pending. The jar knows what the browser holds (its Cookie header
 * at the handshake and at each sync, and what each sync gave it), so a cookie the upstream re-sets
 * to what the browser already has is not pending: identical, or meaning the same to the app (a
 * CookieReader: Laravel re-encrypts its session and XSRF-TOKEN cookies on every response,
 * laravel-cookies.ts). The jar still sends the newest value. So that the browser's copy does not
 * run out while the page works only over the socket, a re-set cookie is pending again once a
 * quarter of its lifetime (Max-Age, Expires, or the expiry the value itself carries) has passed
 * since the browser got it: the browser's copy is never more than that behind the socket's.
 */

/** What a cookie's value means to the app, when the value alone does not show it. */
export interface CookieMeaning {
  /** Equal for two values that mean the same to the app. */
  readonly same: string;
  /** When the app stops accepting the value (ms since the epoch), if the value says. */
  readonly lapsesAt?: number;
}

/** Reads cookie values for what they mean to the app (laravel-cookies.ts for Laravel's encrypted cookies). */
export interface CookieReader {
  /** Undefined when it cannot tell: then only an identical value is the same. */
  read(name: string, value: string): CookieMeaning | undefined;
}

/** The browser's copy of a re-set cookie is refreshed once this share of its lifetime has passed. */
export const REFRESH_SHARE = 1 / 4;
/** Bounds per connection, so an upstream (or a handshake) cannot grow a jar without limit. */
const MAX_COOKIES = 64;
const MAX_BYTES = 16 * 1024;
/** Larger cookies are ignored, as browsers do (RFC 6265 §6.1 asks for at least 4096 bytes). */
const MAX_COOKIE_BYTES = 4096;

interface Cookie {
  name: string;
  value: string;
  path: string;
}

export class CookieJar {
  /** By name and path (one name may be set for several paths, as in a browser). */
  private readonly cookies = new Map<string, Cookie>();
  /** Set-Cookie headers not yet handed to the browser, by cookie name (the latest wins), with a Path. */
  private readonly pending = new Map<string, Pending>();
  /** What the browser holds, as far as this connection knows, and since when. */
  private browser = new Map<string, Held>();

  constructor(private readonly reader?: CookieReader) {}

  /** A jar holding the cookies of a `Cookie:` request header (`a=1; b=2`): the browser's, as of `now`. */
  static fromHeader(header: string | undefined, reader?: CookieReader, now = Date.now()): CookieJar {
    const jar = new CookieJar(reader);
    jar.observe(header, now);
    return jar;
  }

  /**
   * Applies one `Set-Cookie` header from the upstream (answering `requestPath`). Returns the
   * cookie's name when the browser must be given it (a deletion too), so it is now pending; null
   * when the header is unusable, or the browser already holds the same cookie.
   */
  apply(setCookie: string, now = Date.now(), requestPath = '/'): string | null {
    const cookie = this.set(setCookie, now, requestPath);
    if (cookie === null) return null;
    if (!this.pending.has(cookie.name) && this.browserHolds(cookie, now)) return null;
    this.pending.delete(cookie.name);
    this.pending.set(cookie.name, { header: withPath(setCookie, requestPath), cookie });
    while (this.pending.size > MAX_COOKIES) this.pending.delete(this.pending.keys().next().value!);
    return cookie.name;
  }

  /**
   * The browser's copies known from its Cookie header are as old as `since` at least (the page's
   * load, which the client reports: every response of a Laravel page sets them, so they are no
   * older than the page). A connection that opens long after the page loaded, or opens again,
   * thus refreshes them when due, instead of counting their age from its handshake.
   */
  heldSince(since: number): void {
    for (const held of this.browser.values()) if (!held.given && since < held.since) held.since = since;
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /**
   * The browser's session sync: returns the pending Set-Cookie headers, which the browser is given
   * now; the browser's cookies (its `Cookie:` header) with those on top become the jar, and what
   * the browser holds.
   */
  sync(header: string | undefined, now = Date.now()): string[] {
    const given = [...this.pending.values()];
    this.pending.clear();
    this.cookies.clear();
    this.observe(header, now);
    for (const { header: setCookie, cookie } of given) {
      this.set(setCookie, now, '/');
      this.browser.delete(cookie.name);
      if (!cookie.removed) this.browser.set(cookie.name, { value: cookie.value, since: now, given: true });
    }
    this.boundBrowser();
    return given.map((p) => p.header);
  }

  /** The value of `name` sent to `requestPath` (the one with the longest matching Path). */
  get(name: string, requestPath = '/'): string | undefined {
    return this.matching(requestPath).find((c) => c.name === name)?.value;
  }

  get size(): number {
    return this.cookies.size;
  }

  /** The `Cookie:` header to send to `requestPath`, or undefined when no cookie's Path matches it. */
  header(requestPath = '/'): string | undefined {
    const cookies = this.matching(requestPath);
    if (cookies.length === 0) return undefined;
    return cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** Cookies whose Path matches, longer paths first (RFC 6265 §5.4), else in the order set. */
  private matching(requestPath: string): Cookie[] {
    const path = requestPath.split('?')[0] || '/';
    const out = [...this.cookies.values()].filter((c) => pathMatches(path, c.path));
    return out.sort((a, b) => b.path.length - a.path.length);
  }

  /** The browser's cookies (a `Cookie:` header it sent now) become the jar's and what it holds. */
  private observe(header: string | undefined, now: number): void {
    const before = this.browser;
    this.browser = new Map();
    for (const [name, value] of parseCookieHeader(header)) {
      this.put(name, value, '/');
      // The same value as before is the same copy: it is no younger for being sent again.
      const known = before.get(name);
      this.browser.set(name, known?.value === value ? known : { value, since: now });
    }
    this.boundBrowser();
  }

  /** Whether the browser holds this cookie (the same value or meaning), not yet due for a refresh. */
  private browserHolds(cookie: ParsedCookie, now: number): boolean {
    const held = this.browser.get(cookie.name);
    if (cookie.removed || held === undefined) return false;
    if (held.value !== cookie.value) {
      const meaning = this.reader?.read(cookie.name, cookie.value);
      if (meaning === undefined || meaning.same !== this.meaningOf(cookie.name, held)?.same) return false;
    }
    let refreshAt = Infinity;
    if (cookie.lifetimeMs !== undefined) refreshAt = held.since + cookie.lifetimeMs * REFRESH_SHARE;
    const lapsesAt = this.meaningOf(cookie.name, held)?.lapsesAt;
    if (lapsesAt !== undefined) refreshAt = Math.min(refreshAt, held.since + (lapsesAt - held.since) * REFRESH_SHARE);
    return now < refreshAt;
  }

  /** The meaning of the browser's copy, read once. */
  private meaningOf(name: string, held: Held): CookieMeaning | undefined {
    if (this.reader === undefined) return undefined;
    if (held.meaning === undefined) held.meaning = this.reader.read(name, held.value) ?? null;
    return held.meaning ?? undefined;
  }

  private boundBrowser(): void {
    while (this.browser.size > MAX_COOKIES) this.browser.delete(this.browser.keys().next().value!);
  }

  /** Applies a Set-Cookie header (answering `requestPath`) to the jar; null when it is unusable. */
  private set(setCookie: string, now: number, requestPath: string): ParsedCookie | null {
    const cookie = parseSetCookie(setCookie, now, requestPath);
    if (cookie === null) return null;
    if (cookie.removed) this.cookies.delete(keyOf(cookie.name, cookie.path));
    else this.put(cookie.name, cookie.value, cookie.path);
    return cookie;
  }

  private put(name: string, value: string, path: string): void {
    if (name.length + value.length > MAX_COOKIE_BYTES) return;
    const key = keyOf(name, path);
    this.cookies.delete(key);
    this.cookies.set(key, { name, value, path });
    // Over the bounds, the least recently set cookies go first.
    let bytes = 0;
    for (const c of this.cookies.values()) bytes += c.name.length + c.value.length + 2;
    for (const [oldest, c] of this.cookies) {
      if (this.cookies.size <= MAX_COOKIES && bytes <= MAX_BYTES) break;
      bytes -= c.name.length + c.value.length + 2;
      this.cookies.delete(oldest);
    }
  }
}

function keyOf(name: string, path: string): string {
  return `${name}\u0000${path}`;
}

/** RFC 6265 §5.1.4: `/a` matches `/a`, `/a/` and `/a/b`, not `/ab`. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** RFC 6265 §5.1.4: the directory of the request's path. */
function defaultPath(requestPath: string): string {
  const pathname = requestPath.split('?')[0] ?? '/';
  const slash = pathname.lastIndexOf('/');
  return !pathname.startsWith('/') || slash <= 0 ? '/' : pathname.slice(0, slash);
}

interface ParsedCookie {
  name: string;
  value: string;
  /** Its Path attribute, else the directory of the request that set it. */
  path: string;
  /** Max-Age ≤ 0 or an Expires in the past: the browser must drop it. */
  removed: boolean;
  /** From now, by Max-Age or Expires; undefined for a cookie that lasts as long as the browser session. */
  lifetimeMs?: number;
}

interface Pending {
  header: string;
  cookie: ParsedCookie;
}

interface Held {
  value: string;
  /** Since when the browser holds this value (got it from a sync, or first sent it here). */
  since: number;
  /** Given by a sync (its age is known), not only seen in a Cookie header. */
  given?: true;
  /** Its meaning, read when first needed; null: unreadable. */
  meaning?: CookieMeaning | null;
}

function parseSetCookie(setCookie: string, now: number, requestPath: string): ParsedCookie | null {
  const [pair = '', ...attributes] = setCookie.split(';');
  const eq = pair.indexOf('=');
  if (eq <= 0) return null;
  const name = pair.slice(0, eq).trim();
  const value = pair.slice(eq + 1).trim();
  if (name === '') return null;
  let maxAge: number | undefined;
  let expires: number | undefined;
  let path: string | undefined;
  for (const attribute of attributes) {
    const i = attribute.indexOf('=');
    const key = (i < 0 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
    const arg = i < 0 ? '' : attribute.slice(i + 1).trim();
    if (key === 'max-age' && /^-?\d+$/.test(arg)) maxAge = Number(arg);
    else if (key === 'expires') {
      const t = Date.parse(arg);
      if (!Number.isNaN(t)) expires = t;
    } else if (key === 'path') path = arg.startsWith('/') ? arg : undefined; // RFC 6265 §5.2.4
  }
  path ??= defaultPath(requestPath);
  // Max-Age wins over Expires (RFC 6265 §5.3).
  const lifetimeMs = maxAge !== undefined ? maxAge * 1000 : expires !== undefined ? expires - now : undefined;
  const removed = lifetimeMs !== undefined && lifetimeMs <= 0;
  return { name, value, path, removed, ...(lifetimeMs === undefined || removed ? {} : { lifetimeMs }) };
}

/** The pairs of a `Cookie:` header; the browser sends the most specific cookie of a name first: that one is kept. */
function parseCookieHeader(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (name !== '' && !out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/**
 * The Set-Cookie as the browser must store it when it comes from another URL (the sync endpoint):
 * without a Path attribute a cookie's path is the directory of the request that set it (RFC 6265
 * §5.1.4), so that one is written out.
 */
function withPath(setCookie: string, requestPath: string): string {
  if (/;\s*path\s*=/i.test(setCookie)) return setCookie;
  return `${setCookie}; Path=${defaultPath(requestPath)}`;
}
