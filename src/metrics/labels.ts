/**
 * Label values that come from a client, mapped onto a bounded set (Prometheus: a label's values
 * must not be chosen by whoever sends the traffic; each one is a series kept for ever).
 */

/**
 * A WebSocket close code as a label: the standard codes (1000–1015) and Pusher's protocol range
 * (4000–4299) as they are; any other code a client picks (3000–3999, 4300–4999) is `other`.
 */
export function closeCodeLabel(code: number): string {
  if ((code >= 1000 && code <= 1015) || (code >= 4000 && code <= 4299)) return String(code);
  return 'other';
}
