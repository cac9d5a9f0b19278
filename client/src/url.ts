/** `new URL` that answers undefined instead of throwing (URL.canParse is too recent for Safari 16). */
export function parseUrl(href: string, base?: string): URL | undefined {
  try {
    return new URL(href, base);
  } catch {
    return undefined; // not a URL here: callers treat it as "not ours"
  }
}
