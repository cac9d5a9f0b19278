/**
 * Validation of `apps[].livewire`, the Livewire tunnel of one app. Absent: the tunnel is off for
 * that app. Present: it needs somewhere to send requests (`backends` or `dns`) and the app's public
 * origin (`publicUrl`): the only pages that may tunnel, and the only source of the X-Forwarded-Host
 * Laravel sees (both applied per request in livewire/headers.ts).
 */
import { isIP } from 'node:net';
import { livewireDefaults } from './schema.js';
import type { LivewireConfig } from './schema.js';
import { invalid, join, Section } from './fields.js';

const KEYS = ['backends', 'dns', 'publicUrl', 'laravelKey', ...Object.keys(livewireDefaults())] as const;
const DNS_KEYS = ['name', 'port', 'protocol'] as const;
const PROTOCOLS = ['http', 'https'] as const;
const HOST_NAME = { pattern: /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/, describe: 'a DNS name' };
/** A path pattern: `/` then printable characters without `?`, `#`, `%`, `;`, `\` or spaces. */
const PATH_PATTERN = /^\/[!$&'()*+,\-./0-9:=@A-Z_a-z~]*$/;

export function readLivewire(raw: unknown, path: string): LivewireConfig {
  const d = livewireDefaults();
  const s = Section.open(raw, path, KEYS);
  const backends = s.list('backends', [], readOrigin);
  backends.forEach((origin, i) => {
    if (backends.indexOf(origin) !== i) throw invalid(join(s.at('backends'), i), 'is listed twice', origin);
  });
  const dns = s.has('dns') ? readDns(s.get('dns'), s.at('dns')) : undefined;
  if (backends.length === 0 && dns === undefined) {
    throw invalid(s.at('backends'), `must list at least one backend URL, or ${s.at('dns')} must be set`);
  }
  if (!s.has('publicUrl')) {
    throw invalid(
      s.at('publicUrl'),
      'must be set to the app\'s public origin (e.g. "https://app.example.com"): only pages of that origin (or of allowedOrigins) may use the tunnel, and Laravel\'s X-Forwarded-Host/Port/Proto come from it',
    );
  }
  const publicUrl = readOrigin(s.get('publicUrl'), s.at('publicUrl'));
  const allowedOrigins = s.list('allowedOrigins', d.allowedOrigins, readOrigin).filter((o) => o !== publicUrl);
  const trustedProxies = s.list('trustedProxies', d.trustedProxies, readProxy);

  const paths = s.list('paths', d.paths, readPathPattern);
  if (paths.length === 0)
    throw invalid(s.at('paths'), 'must list at least one path (remove the livewire section to turn the tunnel off)');

  const healthPath = s.string('healthPath', d.healthPath, {
    pattern: PATH_PATTERN,
    describe: "a path starting with '/' (without query)",
  });
  const timeoutMs = s.int('timeoutMs', d.timeoutMs, 1);
  const deadlineMs = s.int('deadlineMs', Math.max(d.deadlineMs, timeoutMs), 1);
  if (deadlineMs < timeoutMs)
    throw invalid(s.at('deadlineMs'), `must be at least timeoutMs (${timeoutMs})`, deadlineMs);
  const maxResponseBytes = s.int('maxResponseBytes', d.maxResponseBytes, 1);
  const maxBufferedResponseBytes = s.int(
    'maxBufferedResponseBytes',
    Math.max(d.maxBufferedResponseBytes, maxResponseBytes),
    1,
  );
  if (maxBufferedResponseBytes < maxResponseBytes) {
    throw invalid(
      s.at('maxBufferedResponseBytes'),
      `must be at least maxResponseBytes (${maxResponseBytes})`,
      maxBufferedResponseBytes,
    );
  }
  const laravelKey = s.has('laravelKey') ? readLaravelKey(s.get('laravelKey'), s.at('laravelKey')) : undefined;
  const laravelPreviousKeys = s.list('laravelPreviousKeys', d.laravelPreviousKeys, readLaravelKey);
  if (laravelPreviousKeys.length > 0 && laravelKey === undefined)
    throw invalid(s.at('laravelPreviousKeys'), `needs ${s.at('laravelKey')} (the current APP_KEY) too`);
  return {
    backends,
    ...(dns === undefined ? {} : { dns }),
    publicUrl,
    allowedOrigins: [...new Set(allowedOrigins)],
    trustedProxies,
    paths,
    timeoutMs,
    deadlineMs,
    maxQueued: s.int('maxQueued', d.maxQueued, 0),
    queueTimeoutMs: s.int('queueTimeoutMs', d.queueTimeoutMs, 1),
    maxRequestBytes: s.int('maxRequestBytes', d.maxRequestBytes, 1),
    maxResponseBytes,
    maxBufferedResponseBytes,
    maxInFlight: s.int('maxInFlight', d.maxInFlight, 1),
    maxRequestsPerSecond: s.int('maxRequestsPerSecond', d.maxRequestsPerSecond, 0),
    healthPath,
    healthIntervalMs: s.int('healthIntervalMs', d.healthIntervalMs, 100),
    ...(laravelKey === undefined ? {} : { laravelKey }),
    laravelPreviousKeys,
  };
}

/**
 * The bytes of a Laravel app key as Laravel reads APP_KEY: `base64:` and the key in base64, or the
 * key itself; 16 bytes (AES-128) or 32 (AES-256). Undefined when it is no such key.
 */
export function laravelKeyBytes(text: string): Buffer | undefined {
  const key = laravelKeyProblem(text);
  return typeof key === 'string' ? undefined : key;
}

/** The key's bytes, or what is wrong with it (never the key itself: it is a secret). */
function laravelKeyProblem(text: string): Buffer | string {
  if (text.startsWith('base64:')) {
    const b64 = text.slice('base64:'.length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return 'is "base64:" followed by no valid base64';
    const bytes = Buffer.from(b64, 'base64');
    return bytes.length === 16 || bytes.length === 32 ? bytes : `is "base64:" and ${bytes.length} bytes`;
  }
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length === 16 || bytes.length === 32 ? bytes : `is a raw key of ${bytes.length} bytes`;
}

function readLaravelKey(value: unknown, path: string): string {
  const expected =
    'must be the Laravel app\'s key as in its .env (APP_KEY): "base64:" and 32 bytes in base64 ' +
    '(php artisan key:generate --show), or a raw key of 16 or 32 bytes';
  if (typeof value !== 'string') throw invalid(path, expected);
  const key = laravelKeyProblem(value.trim());
  if (typeof key === 'string') throw invalid(path, `${expected}; this one ${key}`);
  return value.trim();
}

/** An http(s) origin (`https://app.example.com`, `http://10.0.0.5:8000`), returned normalized. */
function readOrigin(value: unknown, path: string): string {
  const problem = 'must be an http(s) origin: scheme, host and optional port, without path, query or credentials';
  if (typeof value !== 'string') throw invalid(path, problem, value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(path, problem, value);
  }
  const ok =
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.hostname !== '' &&
    url.username === '' &&
    url.password === '' &&
    url.pathname === '/' &&
    url.search === '' &&
    url.hash === '';
  if (!ok) throw invalid(path, problem, value);
  return url.origin;
}

/** An IP address or CIDR range (`10.0.0.0/8`, `::1`, `fd00::/8`), returned as written. */
export function readProxy(value: unknown, path: string): string {
  const problem = 'must be an IP address or a CIDR range (e.g. "10.0.0.0/8")';
  if (typeof value !== 'string') throw invalid(path, problem, value);
  const [address = '', bits, ...rest] = value.split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const ok =
    family !== 0 && rest.length === 0 && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max));
  if (!ok) throw invalid(path, problem, value);
  return value;
}

function readPathPattern(value: unknown, path: string): string {
  if (typeof value !== 'string' || !PATH_PATTERN.test(value)) {
    throw invalid(path, "must be a path starting with '/', without query, spaces, '%' or '\\'", value);
  }
  if ((value.match(/\*/g) ?? []).length > 1) throw invalid(path, "may contain at most one '*'", value);
  if (value.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw invalid(path, "must not contain '.' or '..' segments", value);
  }
  return value;
}

function readDns(raw: unknown, path: string): NonNullable<LivewireConfig['dns']> {
  const s = Section.open(raw, path, DNS_KEYS);
  const name = s.string('name', undefined, HOST_NAME);
  const protocol = s.oneOf('protocol', PROTOCOLS, 'http');
  return { name, port: s.int('port', protocol === 'https' ? 443 : 80, 1, 65535), protocol };
}
