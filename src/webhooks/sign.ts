/**
 * Webhook signing, as Pusher does it: hex HMAC-SHA256 of the raw body with the app secret, sent
 * in `X-Pusher-Signature` next to the app key in `X-Pusher-Key`.
 */
import { createHmac } from 'node:crypto';

export function signWebhook(secret: string, rawBody: string): string {
  return createHmac('sha256', secret).update(rawBody, 'utf8').digest('hex');
}

/**
 * Headers of one webhook request. The endpoint's extra headers come first, so they can never
 * replace the content type, key or signature.
 */
export function webhookHeaders(
  app: { key: string; secret: string },
  rawBody: string,
  extra: Record<string, string>,
): Headers {
  const headers = new Headers(extra);
  headers.set('Content-Type', 'application/json');
  headers.set('X-Pusher-Key', app.key);
  headers.set('X-Pusher-Signature', signWebhook(app.secret, rawBody));
  return headers;
}
