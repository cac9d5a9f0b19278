/**
 * Builds the `Response` Livewire receives from a tunnelled answer, faithful to what `fetch` would
 * have returned: status, statusText, headers, body (text or a stream), and the `url`,
 * `redirected` and `type` that the constructor cannot set (defined on the instance).
 */
import { parseUrl } from './url.js';

export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Final URL after redirects; empty means the request URL. */
  readonly url: string;
  readonly redirected: boolean;
}

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
/** RFC 9110 token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** No CR, LF or NUL; the constructor throws on those. */
const HEADER_VALUE = /^[^\r\n\0]*$/;
/** fetch never exposes these to scripts. */
const FORBIDDEN_RESPONSE_HEADERS = new Set(['set-cookie', 'set-cookie2']);

export function synthesizeResponse(
  head: ResponseHead,
  body: string | ReadableStream<Uint8Array> | null,
  requestUrl: string,
): Response {
  const headers = new Headers();
  for (const [name, value] of head.headers) {
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) continue; // unusable: fetch would not deliver it either
    if (FORBIDDEN_RESPONSE_HEADERS.has(name.toLowerCase())) continue;
    headers.append(name, value);
  }
  const init: ResponseInit = {
    status: head.status,
    statusText: HEADER_VALUE.test(head.statusText) ? head.statusText : '',
    headers,
  };
  const response = new Response(NULL_BODY_STATUS.has(head.status) ? null : body, init);
  const url = (head.url !== '' ? parseUrl(head.url, requestUrl)?.href : undefined) ?? requestUrl;
  return withFetchProperties(response, url, head.redirected);
}

/** Gives a constructed Response the read-only properties a fetched one has; clones keep them. */
function withFetchProperties(response: Response, url: string, redirected: boolean): Response {
  const clone = response.clone.bind(response);
  Object.defineProperties(response, {
    url: { value: url, enumerable: true },
    redirected: { value: redirected, enumerable: true },
    type: { value: 'basic', enumerable: true },
    clone: { value: () => withFetchProperties(clone(), url, redirected) },
  });
  return response;
}
