/**
 * Which request targets the tunnel may forward: a plain, normalized path (no percent-encoding, no
 * `.`/`..` or empty segments, never an absolute or scheme-relative URL) on the app's allowed list.
 * Pure functions; the tunnel turns a refusal into a `not_allowed` fallback.
 */

export interface Target {
  /** The path without the query, as matched against the allowed list. */
  pathname: string;
  /** `pathname` plus `?query` when there is one: what the upstream receives. */
  path: string;
}

const MAX_TARGET_LENGTH = 4096;
/**
 * RFC 3986 path characters, without percent-encoding (Livewire's and Laravel's routes need none)
 * and without `;`: servlet-style upstreams read `..;` as a parent segment.
 */
const PATH_CHARS = /^\/[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;
/** What a pattern's `*` stands for: one run of letters, digits, `_` and `-` (Livewire 4's segment is 8 hex digits). */
const STAR = '[A-Za-z0-9_-]+';
/** Printable ASCII except `#`: a query as a browser sends it (already percent-encoded). */
const QUERY_CHARS = /^[\x21\x22\x24-\x7e]*$/;

/** The target of a tunnelled request, or the reason it cannot be one. */
export function parseTarget(value: unknown): Target | { refused: string } {
  if (typeof value !== 'string' || value === '') return { refused: 'path must be a non-empty string' };
  if (value.length > MAX_TARGET_LENGTH) return { refused: `path is longer than ${MAX_TARGET_LENGTH} characters` };
  const q = value.indexOf('?');
  const pathname = q < 0 ? value : value.slice(0, q);
  const query = q < 0 ? '' : value.slice(q + 1);
  if (!pathname.startsWith('/') || pathname.startsWith('//'))
    return { refused: 'path must start with a single / (no absolute URLs)' };
  if (!PATH_CHARS.test(pathname))
    return { refused: 'path may only contain plain URL path characters (no %, \\, spaces)' };
  if (
    pathname
      .slice(1)
      .split('/')
      .some((s, i, all) => s === '.' || s === '..' || (s === '' && i < all.length - 1))
  ) {
    return { refused: "path must not contain '.', '..' or empty segments" };
  }
  if (!QUERY_CHARS.test(query)) return { refused: 'query may only contain printable characters (no # or spaces)' };
  return { pathname, path: query === '' ? pathname : `${pathname}?${query}` };
}

/** The allowed list of one app: exact paths, or patterns whose one `*` stands for 1+ of `[A-Za-z0-9_-]`. */
export class PathMatcher {
  private readonly exact = new Set<string>();
  private readonly patterns: RegExp[] = [];

  constructor(paths: readonly string[]) {
    for (const p of paths) {
      const star = p.indexOf('*');
      if (star < 0) this.exact.add(p);
      else this.patterns.push(new RegExp(`^${escape(p.slice(0, star))}${STAR}${escape(p.slice(star + 1))}$`));
    }
  }

  allows(pathname: string): boolean {
    return this.exact.has(pathname) || this.patterns.some((re) => re.test(pathname));
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
