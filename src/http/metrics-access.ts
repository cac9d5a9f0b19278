/**
 * Who may read `/metrics`: anyone who can reach the address it is served on, or, with a token,
 * only requests carrying `Authorization: Bearer <token>` (Prometheus: `authorization.credentials`).
 */
import { safeEqual } from '../protocol/signature.js';
import type { HttpHead, HttpResponse } from '../transport/types.js';
import { json } from './respond.js';

export class MetricsAccess {
  private readonly expected: string | null;

  /** `token` '' = no token required. */
  constructor(token: string) {
    this.expected = token === '' ? null : `Bearer ${token}`;
  }

  /** Null when the request may read the metrics; otherwise the 401 to answer. */
  refuse(req: Pick<HttpHead, 'headers'>): HttpResponse | null {
    if (this.expected === null) return null;
    const given = req.headers.authorization ?? '';
    if (safeEqual(given, this.expected)) return null;
    const res = json({ error: 'A bearer token is required for /metrics' }, 401);
    return { ...res, headers: { ...res.headers, 'www-authenticate': 'Bearer realm="metrics"' } };
  }
}
