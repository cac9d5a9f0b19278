/**
 * The reasons an HTTP request is refused (413, 401/403, an unknown app, ...): the `reason` label
 * of `wiremesh_http_refusals_total` (a bounded set) and of the refusal's log line (router.ts).
 */

export type RefusalReason = 'too_large' | 'unauthorized' | 'forbidden' | 'unknown_app' | 'bad_request' | 'not_found';

/** The refusal a status stands for (the HTTP API's answers); null for what is not a refusal. */
export function refusalReason(status: number, unknownApp: boolean): RefusalReason | null {
  if (unknownApp) return 'unknown_app';
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 413:
      return 'too_large';
    default:
      return null;
  }
}
