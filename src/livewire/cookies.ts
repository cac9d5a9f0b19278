/**
 * The cookie jar of one connection: seeded from the WebSocket handshake's Cookie header, updated
 * from the upstream's Set-Cookie headers, sent with every tunnelled request. Names and values only:
 * Domain, Path, Secure and SameSite are ignored, since every cookie of the jar belongs to the one
 * app and the one browser on the other end of this connection. A socket cannot set the browser's
 * cookies: the Set-Cookie headers the upstream sent are kept as `pending` until the browser's
 * session sync (session-sync.ts) hands them to the browser over HTTP and replaces the jar with the
 * browser's own cookies plus those.
 */

/** Bounds per connection, so an upstream (or a handshake) cannot grow a jar without limit. */
const MAX_COOKIES = 64;
const MAX_BYTES = 16 * 1024;
/** Larger cookies are ignored, as browsers do (RFC 6265 §6.1 asks for at least 4096 bytes). */
const MAX_COOKIE_BYTES = 4096;

export class CookieJar {
  private readonly cookies = new Map<string, string>();
  /** Set-Cookie headers not yet handed to the browser, by cookie name (the latest wins), with a Path. */
  private readonly pending = new Map<string, string>();

  /** A jar holding the cookies of a `Cookie:` request header (`a=1; b=2`). */
  static fromHeader(header: string | undefined): CookieJar {
    const jar = new CookieJar();
    for (const [name, value] of parseCookieHeader(header)) jar.put(name, value);
    return jar;
  }

  /**
   * Applies one `Set-Cookie` header from the upstream (answering `requestPath`) and keeps it for the
   * browser; returns the cookie's name (also for a deletion), or null if unusable.
   */
  apply(setCookie: string, now = Date.now(), requestPath = '/'): string | null {
    const name = this.set(setCookie, now);
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
    for (const [name, value] of parseCookieHeader(header)) this.put(name, value);
    for (const value of setCookies) this.set(value, now);
  }

  private set(setCookie: string, now: number): string | null {
    const [pair = '', ...attributes] = setCookie.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return null;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (name === '') return null;
    let maxAge: number | undefined;
    let expires: number | undefined;
    for (const attribute of attributes) {
      const i = attribute.indexOf('=');
      const key = (i < 0 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
      const arg = i < 0 ? '' : attribute.slice(i + 1).trim();
      if (key === 'max-age' && /^-?\d+$/.test(arg)) maxAge = Number(arg);
      else if (key === 'expires') {
        const t = Date.parse(arg);
        if (!Number.isNaN(t)) expires = t;
      }
    }
    // Max-Age wins over Expires (RFC 6265 §5.3).
    const expired = maxAge !== undefined ? maxAge <= 0 : expires !== undefined && expires <= now;
    if (expired) this.cookies.delete(name);
    else this.put(name, value);
    return name;
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  get size(): number {
    return this.cookies.size;
  }

  /** The `Cookie:` header to send, or undefined when the jar is empty. */
  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private put(name: string, value: string): void {
    if (name.length + value.length > MAX_COOKIE_BYTES) return;
    this.cookies.delete(name);
    this.cookies.set(name, value);
    // Over the bounds, the least recently set cookies go first.
    let bytes = 0;
    for (const [n, v] of this.cookies) bytes += n.length + v.length + 2;
    for (const oldest of this.cookies.keys()) {
      if (this.cookies.size <= MAX_COOKIES && bytes <= MAX_BYTES) break;
      bytes -= oldest.length + (this.cookies.get(oldest)?.length ?? 0) + 2;
      this.cookies.delete(oldest);
    }
  }
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
  const pathname = requestPath.split('?')[0] ?? '/';
  const slash = pathname.lastIndexOf('/');
  return `${setCookie}; Path=${slash <= 0 ? '/' : pathname.slice(0, slash)}`;
}
