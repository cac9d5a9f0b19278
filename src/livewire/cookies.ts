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
 */

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
  private readonly pending = new Map<string, string>();

  /** A jar holding the cookies of a `Cookie:` request header (`a=1; b=2`). */
  static fromHeader(header: string | undefined): CookieJar {
    const jar = new CookieJar();
    for (const [name, value] of parseCookieHeader(header)) jar.put(name, value, '/');
    return jar;
  }

  /**
   * Applies one `Set-Cookie` header from the upstream (answering `requestPath`) and keeps it for the
   * browser; returns the cookie's name (also for a deletion), or null if unusable.
   */
  apply(setCookie: string, now = Date.now(), requestPath = '/'): string | null {
    const name = this.set(setCookie, now, requestPath);
    if (name === null) return null;
    this.pending.delete(name);
    this.pending.set(name, withPath(setCookie, requestPath));
    while (this.pending.size > MAX_COOKIES) this.pending.delete(this.pending.keys().next().value!);
    return name;
  }

  /** The Set-Cookie headers the browser has not been given yet; they count as given from now on. */
  takePending(): string[] {
    const out = [...this.pending.values()];
    this.pending.clear();
    return out;
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** The browser's cookies (its `Cookie:` header) become the jar; then `setCookies` are applied on top. */
  replace(header: string | undefined, setCookies: readonly string[], now = Date.now()): void {
    this.cookies.clear();
    for (const [name, value] of parseCookieHeader(header)) this.put(name, value, '/');
    for (const value of setCookies) this.set(value, now, '/');
  }

  private set(setCookie: string, now: number, requestPath: string): string | null {
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
    const expired = maxAge !== undefined ? maxAge <= 0 : expires !== undefined && expires <= now;
    if (expired) this.cookies.delete(keyOf(name, path));
    else this.put(name, value, path);
    return name;
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
