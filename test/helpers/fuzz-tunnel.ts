/**
 * The Livewire tunnel part of the fuzz test: real `ws` connections with random handshakes (the
 * page's Origin, another site, `null`, none; cookies; forged X-Forwarded-*) sending random and
 * mutated `wiremesh:request` / `wiremesh:abort` frames (ids, methods, tricky paths, header values
 * with control and non-Latin-1 characters, bodies of every type) at a real upstream whose query
 * picks its behaviour (delays, redirects, streams, big bodies, errors). Records what must hold:
 * every request with a fresh id is answered once (unless aborted), nothing but an allowed path from
 * the allowed page reaches the upstream.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rng } from './fuzz-rng.js';
import { TunnelSocket } from './livewire-socket.js';

export const TUNNEL_PAGE = 'https://app.fuzz.test';
export const TUNNEL_PATHS = ['/livewire/update', '/livewire-*/update', '/broadcasting/auth'];

export interface TunnelFuzzEnv {
  port: number;
  deadline: number;
}

export interface TunnelFuzzStats {
  connections: number;
  frames: number;
  requests: number;
  responses: number;
  fallbacks: Map<string, number>;
  protocolErrors: number;
  aborted: number;
  /** Requests with a fresh, valid id that got no final answer before their socket closed. */
  unanswered: string[];
  /** Requests answered more than once (two responses, or a fallback after a response). */
  answeredTwice: string[];
}

export function newTunnelStats(): TunnelFuzzStats {
  return {
    connections: 0,
    frames: 0,
    requests: 0,
    responses: 0,
    fallbacks: new Map(),
    protocolErrors: 0,
    aborted: 0,
    unanswered: [],
    answeredTwice: [],
  };
}

const NASTY = [
  '\u0000',
  '\u0001',
  '\r',
  '\n',
  '\u007f',
  '\u0100',
  '\u2028',
  '\ud83d\ude00',
  '\t',
  'é',
  ';',
  '..',
  '%2e',
  '\\',
  '#',
  '?',
  ' ',
  '"',
];

function origin(rng: Rng): Record<string, string> {
  return rng.weighted<() => Record<string, string>>([
    [8, () => ({ origin: TUNNEL_PAGE })],
    [1, () => ({ origin: 'https://evil.fuzz.test' })],
    [1, () => ({ origin: 'null' })],
    [1, () => ({})],
    [1, () => ({ origin: `${TUNNEL_PAGE}.evil.test` })],
  ])();
}

function handshake(rng: Rng): Record<string, string> {
  const h: Record<string, string> = { ...origin(rng) };
  if (rng.chance(0.5)) h.cookie = `laravel_session=${rng.text(rng.int(1, 40))}; XSRF-TOKEN=${rng.text(8)}`;
  if (rng.chance(0.2)) h['x-forwarded-for'] = rng.pick(['6.6.6.6', '1.2.3.4, 5.6.7.8', 'junk', '']);
  if (rng.chance(0.2)) h['x-forwarded-host'] = 'attacker.fuzz.test';
  if (rng.chance(0.2)) h['x-forwarded-proto'] = rng.pick(['http', 'gopher', '']);
  return h;
}

function behaviour(rng: Rng): string {
  return rng.weighted<() => string>([
    [10, () => ''],
    [3, () => `delay=${rng.int(0, 150)}`],
    [2, () => `status=${rng.pick([419, 500, 404, 403])}`],
    [
      1,
      () =>
        `redirect=${encodeURIComponent(rng.pick(['/livewire/update', `${TUNNEL_PAGE}/x`, 'https://evil.fuzz.test/', '//evil.fuzz.test/']))}&code=${rng.pick([301, 302, 303, 307, 308])}`,
    ],
    [1, () => `stream=${rng.int(1, 3)}`],
    [1, () => `big=${rng.size(400_000)}`],
    [1, () => `set=${encodeURIComponent(`k${rng.int(0, 9)}=${rng.text(6)}; Path=/`)}`],
  ])();
}

function path(rng: Rng): unknown {
  const query = (): string => {
    const b = behaviour(rng);
    return b === '' ? '' : `?${b}`;
  };
  return rng.weighted<() => unknown>([
    [10, () => `/livewire/update${query()}`],
    [3, () => `/livewire-${rng.text(8, '0123456789abcdef')}/update${query()}`],
    [2, () => `/broadcasting/auth${query()}`],
    [2, () => `/livewire-${rng.text(rng.int(0, 6), "ab.;@!$&'()*+,=:~_-")}/update`],
    [2, () => `/livewire/${rng.pick(NASTY)}update`],
    [
      1,
      () =>
        rng.pick([
          '/admin',
          '/',
          '',
          '//evil.fuzz.test/livewire/update',
          'http://evil/livewire/update',
          '/livewire/update/..',
          '/livewire/update;x',
          `/${'a'.repeat(5000)}`,
        ]),
    ],
    [1, () => rng.pick([null, 42, {}, ['x'], true])],
  ])();
}

function headers(rng: Rng): unknown {
  if (rng.chance(0.05)) return rng.pick([null, 'x', 42, ['a']]);
  const out: Record<string, unknown> = { 'content-type': 'application/json', 'x-livewire': '' };
  const n = rng.int(0, 4);
  for (let i = 0; i < n; i++) {
    const name = rng.pick([
      'x-csrf-token',
      'accept',
      'x-xsrf-token',
      'referer',
      'cookie',
      'host',
      'x-forwarded-host',
      'X-Livewire',
      'x-socket-id',
      rng.text(rng.int(1, 12)),
    ]);
    out[name] = rng.weighted<() => unknown>([
      [6, () => rng.text(rng.int(0, 40))],
      [3, () => `${rng.text(3)}${rng.pick(NASTY)}${rng.text(3)}`],
      [1, () => rng.pick([5, null, {}, 'x'.repeat(9000), `${TUNNEL_PAGE}/page`, 'https://evil.fuzz.test/page'])],
    ])();
  }
  return out;
}

function requestData(rng: Rng, id: unknown): unknown {
  const data: Record<string, unknown> = {
    id,
    method: rng.weighted<() => unknown>([
      [12, () => 'POST'],
      [3, () => 'GET'],
      [1, () => rng.pick(['PUT', 'get', 'HEAD', 'CONNECT', '', 7])],
    ])(),
    path: path(rng),
    headers: headers(rng),
  };
  if (data.method !== 'GET' || rng.chance(0.1)) {
    data.body = rng.weighted<() => unknown>([
      [8, () => JSON.stringify({ _token: rng.text(8), components: [{ snapshot: rng.text(rng.size(2000)) }] })],
      [1, () => ''],
      [1, () => rng.pick([null, 5, { a: 1 }])],
      [1, () => 'é'.repeat(rng.size(30_000))],
    ])();
  }
  return rng.chance(0.1) ? JSON.stringify(data) : data;
}

/** One worker: connections one after another until the deadline. */
export async function tunnelWorker(rng: Rng, env: TunnelFuzzEnv, stats: TunnelFuzzStats): Promise<void> {
  while (Date.now() < env.deadline) {
    let s: TunnelSocket;
    try {
      s = await TunnelSocket.open(env.port, handshake(rng));
    } catch {
      continue;
    }
    stats.connections++;
    const fresh = new Set<string>();
    const aborted = new Set<string>();
    const n = rng.int(1, 25);
    const sentData = new Map<string, unknown>();
    for (let i = 0; i < n; i++) {
      stats.frames++;
      rng.weighted<() => void>([
        [
          10,
          () => {
            const id = `q${i}`;
            fresh.add(id);
            stats.requests++;
            const data = requestData(rng, id);
            sentData.set(id, data);
            s.send('wiremesh:request', data);
          },
        ],
        [1, () => s.send('wiremesh:request', requestData(rng, rng.pick([undefined, '', 'x'.repeat(65), 7, null])))],
        [
          2,
          () => {
            const id = `q${rng.int(0, Math.max(0, i - 1))}`;
            if (fresh.has(id)) aborted.add(id);
            s.send('wiremesh:abort', { id });
          },
        ],
        [1, () => s.send('wiremesh:abort', rng.pick([null, 'x', { id: 5 }, '{"id":"zz"}', []]))],
        [
          1,
          () =>
            s.send(rng.pick(['wiremesh:chunk', 'wiremesh:response', 'wiremesh:', 'wiremesh:request ']), { id: 'q0' }),
        ],
      ])();
      if (rng.chance(0.3)) await sleep(rng.int(0, 20));
    }
    // Let the answers arrive (the upstream's slowest behaviour is well under a second), then check.
    const pending = (): string[] => [...fresh].filter((id) => !aborted.has(id) && !answered(s, id));
    const until = Date.now() + 3_000;
    while (pending().length > 0 && Date.now() < until) await sleep(20);
    for (const id of pending())
      if (stats.unanswered.length < 20)
        stats.unanswered.push(
          `${id}: sent ${JSON.stringify(sentData.get(id)).slice(0, 300)}; got ${JSON.stringify(s.of(id)).slice(0, 300)}`,
        );
    for (const id of fresh) {
      const firsts = s.of(id).filter((f) => f.event === 'wiremesh:response' || f.event === 'wiremesh:fallback');
      if (firsts.length > 1 && stats.answeredTwice.length < 20)
        stats.answeredTwice.push(`${id}: ${JSON.stringify(firsts).slice(0, 300)}`);
    }
    for (const f of s.frames) {
      if (f.event === 'wiremesh:response') stats.responses++;
      if (f.event === 'wiremesh:fallback') {
        const code = (f.data as { code: string }).code;
        stats.fallbacks.set(code, (stats.fallbacks.get(code) ?? 0) + 1);
      }
      if (f.event === 'pusher:error') stats.protocolErrors++;
    }
    stats.aborted += aborted.size;
    s.close();
    await s.closed;
  }
}

/** A fallback, a done response, or a response whose last chunk came. */
function answered(s: TunnelSocket, id: string): boolean {
  const frames = s.of(id);
  if (frames.some((f) => f.event === 'wiremesh:fallback')) return true;
  // A duplicate id is refused with pusher:error (the first request still gets its answer).
  return frames.some(
    (f) =>
      (f.event === 'wiremesh:response' || f.event === 'wiremesh:chunk') && (f.data as { done?: boolean }).done === true,
  );
}
