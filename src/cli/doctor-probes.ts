/** Network probes for `wiremesh doctor`: each bounded in time, each resolving to a result, never throwing. */
import { promises as dns } from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';

export const PROBE_TIMEOUT_MS = 5_000;

/**
 * Characters a terminal acts on rather than shows: C0 and C1 controls, DEL, and the Unicode line
 * separators and bidirectional controls (which reorder what follows them on the line).
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text a probed server chose (a body, a header, a first line), made safe to print on one line:
 * control characters escaped (`\n`, `\u001b`), cut at `max` characters.
 */
export function printable(text: string, max = 200): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(UNPRINTABLE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function reason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return printable(
    typeof e.code === 'string'
      ? `${e.code}${typeof e.message === 'string' && !e.message.includes(e.code) ? ` (${e.message})` : ''}`
      : String(e.message ?? err),
  );
}

/** Opens a TCP (or TLS) connection, writes `hello`, and resolves with the first bytes answered. */
export function tcpProbe(
  host: string,
  port: number,
  opts: { tls?: boolean; hello?: string } = {},
): Promise<{ ok: true; first: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = opts.tls ? tls.connect({ host, port, servername: host }) : net.connect({ host, port });
    const done = (result: { ok: true; first: string } | { ok: false; error: string }): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ ok: false, error: `no answer within ${PROBE_TIMEOUT_MS} ms` }),
      PROBE_TIMEOUT_MS,
    );
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      if (opts.hello !== undefined) socket.write(opts.hello);
      else done({ ok: true, first: '' });
    });
    socket.once('data', (d: Buffer) => done({ ok: true, first: d.subarray(0, 256).toString('utf8') }));
    socket.once('error', (err) => done({ ok: false, error: reason(err) }));
  });
}

export interface HttpResult {
  readonly status: number;
  /** The first 500 characters of the body, as sent (print it through `printable`). */
  readonly body: string;
  readonly headers: Headers;
  /** This machine's clock (ms) just before the request was sent and when the response's head arrived. */
  readonly sentAt: number;
  readonly receivedAt: number;
}

export async function httpProbe(
  url: string,
  init: RequestInit = {},
): Promise<{ ok: true; res: HttpResult } | { ok: false; error: string }> {
  try {
    const sentAt = Date.now();
    const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const receivedAt = Date.now();
    const body = (await res.text()).slice(0, 500);
    return { ok: true, res: { status: res.status, body, headers: res.headers, sentAt, receivedAt } };
  } catch (err) {
    return { ok: false, error: reason((err as { cause?: unknown }).cause ?? err) };
  }
}

/** Connects a Pusher client socket and waits for `pusher:connection_established`. */
export function pusherProbe(url: string): Promise<{ ok: true } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: PROBE_TIMEOUT_MS });
    const done = (result: { ok: true } | { ok: false; error: string }): void => {
      clearTimeout(timer);
      ws.terminate();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ ok: false, error: `no pusher:connection_established within ${PROBE_TIMEOUT_MS} ms` }),
      PROBE_TIMEOUT_MS,
    );
    ws.on('unexpected-response', (_req, res) =>
      done({ ok: false, error: `HTTP ${res.statusCode} instead of a WebSocket upgrade` }),
    );
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      if (text.includes('pusher:connection_established')) done({ ok: true });
      else if (text.includes('pusher:error')) done({ ok: false, error: printable(text) });
    });
    ws.on('close', (code) => done({ ok: false, error: `closed with ${code}` }));
    ws.on('error', (err) => done({ ok: false, error: reason(err) }));
  });
}

/** A and AAAA records of `name` (either may be empty). */
export async function resolveAll(
  name: string,
): Promise<{ ok: true; addresses: string[] } | { ok: false; error: string }> {
  const [v4, v6] = await Promise.allSettled([dns.resolve4(name), dns.resolve6(name)]);
  const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (addresses.length > 0) return { ok: true, addresses };
  const err = v6.status === 'rejected' ? v6.reason : v4.status === 'rejected' ? v4.reason : 'no records';
  return { ok: false, error: reason(err) };
}
