/** Reading the WebSocket handshake's query string (`protocol=7&client=js&…`) on every connect. */

/** Anything URLSearchParams would decode (percent, plus, non-printable or non-ASCII); it also drops a leading `?`. */
const NEEDS_DECODING = /[^\x20-\x7e]|[%+]|^\?/;

/** `new URLSearchParams(query).get(name)`, without building the whole map in the common case. */
export function queryParam(query: string, name: string): string | null {
  if (NEEDS_DECODING.test(query)) return new URLSearchParams(query).get(name);
  for (let start = 0; start < query.length;) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    const eq = query.indexOf('=', start);
    const hasValue = eq >= 0 && eq < end;
    if ((hasValue ? eq : end) - start === name.length && query.startsWith(name, start))
      return hasValue ? query.slice(eq + 1, end) : '';
    start = end + 1;
  }
  return null;
}
