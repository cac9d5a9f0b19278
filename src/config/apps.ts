/**
 * Validation of `apps[]`: credentials, per-app limits and webhook endpoints. Missing fields take
 * appDefaults(); an empty or missing list becomes the one DEFAULT_APP.
 */
import { appDefaults, DEFAULT_APP, WEBHOOK_EVENTS } from './schema.js';
import type { AppConfig, WebhookEndpointConfig, WebhookEventName } from './schema.js';
import { invalid, isPlainObject, join, member, Section } from './fields.js';
import { readFragments } from './fragments.js';
import { readLivewire } from './livewire.js';

const APP_KEYS = ['id', 'key', 'secret', ...Object.keys(appDefaults()), 'livewire', 'fragments'] as const;
const WEBHOOK_KEYS = ['url', 'events', 'headers', 'filter'] as const;
const FILTER_KEYS = ['channelNamePrefix', 'channelNameSuffix'] as const;

/** App ids and keys appear in URL paths (`/app/{key}`, `/apps/{id}/events`). */
const URL_SAFE = { pattern: /^[^\s/?#%]+$/, describe: "a string without spaces, '/', '?', '#' or '%'" };
/** RFC 9110 token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the webhook sender sets itself; overriding them would break signature checks. */
const RESERVED_HEADERS = ['content-type', 'content-length', 'x-pusher-key', 'x-pusher-signature'];

export function readApps(value: unknown, path = 'apps'): AppConfig[] {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    return [{ ...DEFAULT_APP, ...appDefaults() }];
  }
  if (!Array.isArray(value)) throw invalid(path, 'must be an array', value);
  const apps = value.map((raw, i) => readApp(raw, join(path, i)));
  for (const field of ['id', 'key'] as const) {
    const seen = new Map<string, number>();
    apps.forEach((app, i) => {
      const first = seen.get(app[field]);
      if (first !== undefined) {
        throw invalid(join(join(path, i), field), `is already used by ${join(path, first)}`, app[field]);
      }
      seen.set(app[field], i);
    });
  }
  return apps;
}

function readApp(raw: unknown, path: string): AppConfig {
  const s = Section.open(raw, path, APP_KEYS);
  const d = appDefaults();
  // Pusher app ids are numbers; `"id": 12345` is accepted and read as "12345".
  const rawId = s.get('id');
  const id =
    typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId >= 0
      ? String(rawId)
      : s.string('id', undefined, URL_SAFE);
  const app: AppConfig = {
    id,
    key: s.string('key', undefined, URL_SAFE),
    secret: s.string('secret', undefined, { secret: true }),
    enabled: s.bool('enabled', d.enabled),
    clientEvents: s.bool('clientEvents', d.clientEvents),
    userAuthentication: s.bool('userAuthentication', d.userAuthentication),
    signinTimeoutMs: s.int('signinTimeoutMs', d.signinTimeoutMs, 0),
    maxConnections: s.int('maxConnections', d.maxConnections, 0),
    maxClientEventsPerSecond: s.int('maxClientEventsPerSecond', d.maxClientEventsPerSecond, 0),
    maxPresenceMembers: s.int('maxPresenceMembers', d.maxPresenceMembers, 1),
    maxPresenceMemberSizeBytes: s.int('maxPresenceMemberSizeBytes', d.maxPresenceMemberSizeBytes, 1),
    maxEventPayloadBytes: s.int('maxEventPayloadBytes', d.maxEventPayloadBytes, 1),
    maxEventNameLength: s.int('maxEventNameLength', d.maxEventNameLength, 1),
    maxEventChannels: s.int('maxEventChannels', d.maxEventChannels, 1),
    maxEventBatchSize: s.int('maxEventBatchSize', d.maxEventBatchSize, 1),
    webhooks: s.list('webhooks', d.webhooks, readWebhook),
    ...(s.has('livewire') ? { livewire: readLivewire(s.get('livewire'), s.at('livewire')) } : {}),
    ...(s.has('fragments') ? { fragments: readFragments(s.get('fragments'), s.at('fragments')) } : {}),
  };
  if (app.fragments && !app.livewire) {
    throw invalid(s.at('fragments'), `renders on the Livewire upstreams: ${s.at('livewire')} must be set too`);
  }
  if (app.signinTimeoutMs > 0 && !app.userAuthentication) {
    throw invalid(s.at('signinTimeoutMs'), `requires ${s.at('userAuthentication')} to be true`, app.signinTimeoutMs);
  }
  return app;
}

function readWebhook(raw: unknown, path: string): WebhookEndpointConfig {
  const s = Section.open(raw, path, WEBHOOK_KEYS);
  const url = s.string('url', undefined);
  if (!isHttpUrl(url)) throw invalid(s.at('url'), 'must be an http(s) URL', url);

  if (!s.has('events')) throw invalid(s.at('events'), `must list the events to send: ${WEBHOOK_EVENTS.join(', ')}`);
  const events = s.list<WebhookEventName>('events', [], (v, p) => member(v, p, WEBHOOK_EVENTS));
  if (events.length === 0) throw invalid(s.at('events'), `must list at least one of ${WEBHOOK_EVENTS.join(', ')}`);
  events.forEach((event, i) => {
    if (events.indexOf(event) !== i) throw invalid(join(s.at('events'), i), 'is listed twice', event);
  });

  const filter = Section.open(s.get('filter'), s.at('filter'), FILTER_KEYS);
  const prefix = filter.optionalString('channelNamePrefix');
  const suffix = filter.optionalString('channelNameSuffix');
  return {
    url,
    events,
    headers: readHeaders(s.get('headers'), s.at('headers')),
    filter: {
      ...(prefix === undefined ? {} : { channelNamePrefix: prefix }),
      ...(suffix === undefined ? {} : { channelNameSuffix: suffix }),
    },
  };
}

function readHeaders(raw: unknown, path: string): Record<string, string> {
  if (raw === undefined) return {};
  if (!isPlainObject(raw)) throw invalid(path, 'must be an object', raw);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    const at = join(path, name);
    if (!HEADER_NAME.test(name)) throw invalid(at, 'is not a valid HTTP header name');
    if (RESERVED_HEADERS.includes(name.toLowerCase())) throw invalid(at, 'is set by wiremesh and cannot be overridden');
    // Values are never echoed: they often carry tokens.
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) throw invalid(at, 'must be a string without line breaks');
    headers[name] = value;
  }
  return headers;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
