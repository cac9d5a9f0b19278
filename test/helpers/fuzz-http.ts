/**
 * The HTTP API part of the fuzz test: random methods, paths and query strings, and signed requests
 * whose signature, timestamp, body_md5 or body is mutated — or left correct, so that odd bodies
 * (wrong types, `__proto__` keys, deep nesting, sizes near and above the limits, invalid UTF-8)
 * reach the controllers. Signing is written out here as the Pusher SDKs do it:
 * HMAC-SHA256(secret, "METHOD\nPATH\nsorted k=v&…"), values signed unencoded.
 */
import http from 'node:http';
import { createHash, createHmac } from 'node:crypto';
import { deepJson, mutate, oddValue, RawJson, toJson } from './fuzz-pusher.js';
import type { Rng } from './fuzz-rng.js';

export interface HttpApp {
  id: string;
  key: string;
  secret: string;
}

export interface HttpFuzzEnv {
  port: number;
  apps: HttpApp[];
  maxRequestBodyBytes: number;
  maxEventPayloadBytes: number;
  deadline: number;
  agent: http.Agent;
  /** uWS (v20.30) routes only the nine standard methods and drops the connection for any other. */
  dropsUnknownMethods: boolean;
}

export interface HttpFuzzStats {
  requests: number;
  /** Answers by status. */
  statuses: Map<number, number>;
  /** Requests that got no answer (connection errors). */
  errors: number;
  firstErrors: string[];
  /** Requests with a non-standard method that the transport dropped, as it is known to. */
  dropped: number;
  /** Answers whose status is not an allowed one (a few kept, with their request). */
  unexpected: string[];
}

export function newHttpStats(): HttpFuzzStats {
  return { requests: 0, statuses: new Map(), errors: 0, firstErrors: [], dropped: 0, unexpected: [] };
}

/** Every status the HTTP API may answer a fuzzed request with. */
export const ALLOWED_STATUSES = new Set([200, 400, 401, 403, 404, 405, 413]);

const STANDARD_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE']);

interface Spec {
  method: string;
  path: string;
  params: Array<[string, string]>;
  body: Buffer | null;
  sign: 'good' | 'bad-signature' | 'stale' | 'bad-md5' | 'wrong-key' | 'missing' | 'unsigned' | 'duplicate';
  app: HttpApp;
}

function segment(rng: Rng): string {
  return rng.weighted<() => string>([
    [6, () => `fz-${rng.int(0, 5)}`],
    [3, () => `presence-fz-${rng.int(0, 5)}`],
    [1, () => `private-fz-${rng.int(0, 5)}`],
    [1, () => rng.pick(['__proto__', 'constructor', '%E0%A4%A', '%00', '%2F', '..', 'a%20b', '%25', 'x'.repeat(200)])],
    [1, () => encodeURIComponent(rng.bytes(rng.int(1, 12)).toString('latin1'))],
    [1, () => `user-${rng.int(0, 9)}`],
  ])();
}

function eventObject(rng: Rng, env: HttpFuzzEnv): Record<string, unknown> {
  const e: Record<string, unknown> = {
    name: `ev-${rng.text(rng.int(1, 8))}`,
    channels: Array.from({ length: rng.int(1, 3) }, () => segment(rng)),
    data: JSON.stringify({ n: rng.int(0, 1e6) }),
  };
  const mutations = rng.int(0, 3);
  for (let i = 0; i < mutations; i++) {
    rng.weighted<() => void>([
      [3, () => (e.data = oddValue(rng, 4096))],
      [1, () => (e.data = 'd'.repeat(env.maxEventPayloadBytes + rng.int(-20, 20)))],
      [1, () => (e.data = new RawJson(deepJson(rng.int(5_000, 40_000), rng.chance(0.5))))],
      [2, () => (e.name = oddValue(rng, 300))],
      [1, () => (e.name = 'n'.repeat(rng.int(190, 260)))],
      [2, () => (e.channels = oddValue(rng, 200))],
      [1, () => (e.channels = Array.from({ length: rng.int(90, 120) }, (_, k) => `fz-${k}`))],
      [1, () => (e.channels = ['private-encrypted-fz-1', 'fz-1'])],
      [1, () => ((e.channel = segment(rng)), delete e.channels)],
      [2, () => (e.socket_id = rng.pick(['1.1', '123.456', 'x', '', '1.', 1.5, null, {}]))],
      [
        2,
        () =>
          (e.info = rng.pick([
            'subscription_count',
            'user_count',
            'subscription_count,user_count',
            '',
            1,
            ['x'],
            ',,,',
          ])),
      ],
      [
        1,
        () =>
          Object.defineProperty(e, '__proto__', {
            value: { channels: ['fz-1'], name: 'x' },
            enumerable: true,
            configurable: true,
            writable: true,
          }),
      ],
      [1, () => delete e.data],
      [1, () => delete e.name],
    ])();
  }
  return e;
}

function body(rng: Rng, env: HttpFuzzEnv, endpoint: string): Buffer | null {
  const raw = rng.weighted<() => Buffer | null>([
    [
      30,
      () => {
        if (endpoint === 'batch_events') {
          const batch = Array.from({ length: rng.int(0, 12) }, () =>
            rng.chance(0.9) ? eventObject(rng, env) : oddValue(rng, 64),
          );
          return Buffer.from(toJson(rng.chance(0.9) ? { batch } : { batch: oddValue(rng, 64) }));
        }
        return Buffer.from(toJson(eventObject(rng, env)));
      },
    ],
    [2, () => null],
    [3, () => Buffer.from(toJson(oddValue(rng, 8192)))],
    [2, () => rng.bytes(rng.size(2048))],
    [1, () => Buffer.alloc(env.maxRequestBodyBytes + rng.int(-8, 64), '{')],
    [
      1,
      () => Buffer.from(`{"name":"e","channel":"fz-1","data":${deepJson(rng.int(10_000, 100_000), rng.chance(0.5))}}`),
    ],
  ])();
  return raw !== null && rng.chance(0.15) ? mutate(rng, raw) : raw;
}

function spec(rng: Rng, env: HttpFuzzEnv): Spec {
  const app = rng.pick(env.apps);
  const appSeg = rng.weighted<() => string>([
    [20, () => app.id],
    [1, () => rng.pick(['no-such-app', '__proto__', '%E0%A4%A', '', '%61pp-id', 'app-id%00'])],
  ])();
  const [endpoint, method, path] = rng.weighted<() => [string, string, string]>([
    [30, () => ['events', 'POST', `/apps/${appSeg}/events`]],
    [12, () => ['batch_events', 'POST', `/apps/${appSeg}/batch_events`]],
    [8, () => ['channels', 'GET', `/apps/${appSeg}/channels`]],
    [8, () => ['channel', 'GET', `/apps/${appSeg}/channels/${segment(rng)}`]],
    [6, () => ['users', 'GET', `/apps/${appSeg}/channels/${segment(rng)}/users`]],
    [3, () => ['terminate', 'POST', `/apps/${appSeg}/users/${segment(rng)}/terminate_connections`]],
    [
      4,
      () => [
        'misc',
        'GET',
        rng.pick(['/', '/health', '/ready', '/metrics', '/health/', '//', '/apps', '/apps/', `/apps/${appSeg}`]),
      ],
    ],
    [6, () => ['random', 'GET', '/' + Array.from({ length: rng.int(0, 5) }, () => segment(rng)).join('/')]],
  ])();
  const params: Array<[string, string]> = [];
  if (endpoint === 'channels' && rng.chance(0.7))
    params.push(['filter_by_prefix', rng.pick(['presence-', 'fz-', '', 'private-', '__proto__'])]);
  if (rng.chance(0.4))
    params.push(['info', rng.pick(['user_count', 'subscription_count', 'user_count,subscription_count', 'x', ''])]);
  if (rng.chance(0.1))
    params.push([rng.pick(['__proto__', 'constructor', 'toString', 'AUTH_KEY', 'x']), rng.text(rng.int(0, 20))]);
  return {
    method: rng.chance(0.85)
      ? method
      : rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND', 'FUZZ']),
    path: rng.chance(0.05) ? path.replace(/[a-z]/, (c) => c.toUpperCase()) : path,
    params,
    body: method === 'POST' || rng.chance(0.1) ? body(rng, env, endpoint) : null,
    sign: rng.weighted([
      [14, 'good'],
      [1, 'bad-signature'],
      [1, 'stale'],
      [1, 'bad-md5'],
      [1, 'wrong-key'],
      [1, 'missing'],
      [1, 'unsigned'],
      [1, 'duplicate'],
    ] as const),
    app,
  };
}

/** HMAC-SHA256(secret, "METHOD\nPATH\nk=v&…" with the keys sorted and the values unencoded). */
function signatureOf(secret: string, method: string, path: string, params: Map<string, string>): string {
  const sorted = [...params.keys()]
    .sort()
    .map((k) => `${k}=${params.get(k)}`)
    .join('&');
  return createHmac('sha256', secret).update(`${method}\n${path}\n${sorted}`).digest('hex');
}

/** A correctly signed query string for `method path` with `body`, as the SDKs build it. */
export function signedQuery(app: HttpApp, method: string, path: string, body: Buffer | string | null): string {
  const p = new Map<string, string>([
    ['auth_key', app.key],
    ['auth_timestamp', String(Math.floor(Date.now() / 1000))],
    ['auth_version', '1.0'],
  ]);
  if (body !== null && body.length > 0) p.set('body_md5', createHash('md5').update(body).digest('hex'));
  const pairs = [...p].map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  return [...pairs, `auth_signature=${signatureOf(app.secret, method, path, p)}`].join('&');
}

/** The query string of `s`, signed (or mis-signed) as its `sign` says. */
function query(rng: Rng, s: Spec): string {
  if (s.sign === 'unsigned') return s.params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  const p = new Map<string, string>(s.params);
  p.set('auth_key', s.sign === 'wrong-key' ? 'not-the-key' : s.app.key);
  p.set(
    'auth_timestamp',
    String(Math.floor(Date.now() / 1000) + (s.sign === 'stale' ? rng.pick([-601, 700, 1e12]) : 0)),
  );
  p.set('auth_version', '1.0');
  if (s.body && s.body.length > 0)
    p.set(
      'body_md5',
      s.sign === 'bad-md5' ? rng.bytes(16).toString('hex') : createHash('md5').update(s.body).digest('hex'),
    );
  if (s.sign === 'missing') p.delete(rng.pick(['auth_key', 'auth_timestamp', 'body_md5']));
  let signature = signatureOf(s.app.secret, s.method, s.path, p);
  if (s.sign === 'bad-signature') signature = signature.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const pairs = [...p].map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  if (s.sign === 'duplicate') pairs.unshift(`auth_signature=${'0'.repeat(64)}`, `auth_key=${s.app.key}x`);
  return [...pairs, `auth_signature=${signature}`].join('&');
}

function send(env: HttpFuzzEnv, method: string, target: string, body: Buffer | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: env.port,
      method,
      path: target,
      agent: env.agent,
      timeout: 5_000,
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('response', (res) => {
      res.on('data', () => undefined);
      res.on('error', reject);
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    // An explicit length: node does not frame a GET/HEAD/DELETE/OPTIONS body by itself (it would read as the next request).
    if (body) req.setHeader('content-type', 'application/json').setHeader('content-length', body.length);
    req.end(body ?? undefined);
  });
}

/** Sends requests until the deadline. */
export async function httpWorker(rng: Rng, env: HttpFuzzEnv, stats: HttpFuzzStats): Promise<void> {
  while (Date.now() < env.deadline) {
    const s = spec(rng, env);
    const target = `${s.path}?${query(rng, s)}`;
    stats.requests++;
    try {
      const status = await send(env, s.method, target, s.body);
      stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
      if (!ALLOWED_STATUSES.has(status) && stats.unexpected.length < 10) {
        stats.unexpected.push(
          `${status} for ${s.method} ${target.slice(0, 160)} body ${s.body?.subarray(0, 160).toString() ?? '(none)'}`,
        );
      }
    } catch (err) {
      if (env.dropsUnknownMethods && !STANDARD_METHODS.has(s.method)) {
        stats.dropped++;
        continue;
      }
      stats.errors++;
      if (stats.firstErrors.length < 5)
        stats.firstErrors.push(`${s.method} ${target.slice(0, 120)}: ${(err as Error).message}`);
    }
  }
}
