/** What an HTTP API controller receives: the authenticated app, parsed query and body. */
import type { AppConfig } from '../config/schema.js';
import { httpError } from '../errors.js';
import type { ChannelQueries, EventPublisher } from '../core/types.js';

export interface ApiContext {
  app: AppConfig;
  params: Record<string, string>;
  query: Record<string, string>;
  body: Buffer;
  queries: ChannelQueries;
  publisher: EventPublisher;
  maxChannelNameLength: number;
  /** Shared fragments (src/fragments/), when some app has them. */
  fragments?: FragmentRefresher;
}

/** Re-renders a shared fragment on every node with viewers (`channel` undefined: on every channel). */
export interface FragmentRefresher {
  refresh(app: AppConfig, fragment: string, channel: string | undefined): void;
}

export type Controller = (ctx: ApiContext) => unknown;

export function jsonBody(ctx: ApiContext): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(ctx.body.toString('utf8'));
  } catch (err) {
    throw httpError(400, 'Request body is not valid JSON', err);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw httpError(400, 'Request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** `info` attributes requested, e.g. `user_count,subscription_count`. */
export function infoFields(value: unknown): Set<string> {
  return new Set(typeof value === 'string' && value !== '' ? value.split(',').map((s) => s.trim()) : []);
}
