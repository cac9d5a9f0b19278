/**
 * The raw TCP part of the fuzz test: random bytes to the port, malformed HTTP requests and
 * malformed WebSocket upgrades (missing or bad keys and versions, wrong methods, huge or broken
 * headers, lying Content-Length, smuggling-shaped framing, pipelining, a valid upgrade followed by
 * garbage), written whole or in pieces, and cut off at random. Records the status of each answer.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { mutate } from './fuzz-pusher.js';
import type { Rng } from './fuzz-rng.js';
import { APP_PATH, upgradeRequest, WireClient } from './fuzz-wire.js';

export interface TcpFuzzStats {
  connections: number;
  bytes: number;
  /** First answer of each connection, by status (0: not HTTP, -1: no answer). */
  statuses: Map<number, number>;
  /** Answers with a 5xx status (a few kept, with the request). */
  serverErrors: string[];
}

export function newTcpStats(): TcpFuzzStats {
  return { connections: 0, bytes: 0, statuses: new Map(), serverErrors: [] };
}

const key = (): string => randomBytes(16).toString('base64');

function upgrade(rng: Rng, port: number, appKey: string): string {
  const host = `Host: 127.0.0.1:${port}\r\n`;
  const p = APP_PATH(appKey);
  return rng.pick<() => string>([
    () => `GET ${p} HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    () =>
      `GET ${p} HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    () =>
      `GET ${p} HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key()}\r\nSec-WebSocket-Version: ${rng.pick(['8', '12', '99', 'abc', '', '13, 8'])}\r\n\r\n`,
    () =>
      `GET ${p} HTTP/1.1\r\n${host}Upgrade: websocket2\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key()}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    () =>
      `GET ${p} HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: ${key()}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    () =>
      `${rng.pick(['POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE'])} ${p} HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key()}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n`,
    () =>
      `GET ${p} HTTP/1.0\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key()}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    () =>
      `GET http://127.0.0.1:${port}${p} HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key()}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    () => upgradeRequest(port, p, `Sec-WebSocket-Key: ${key()}\r\n`),
    () =>
      upgradeRequest(
        port,
        p,
        `Sec-WebSocket-Protocol: ${rng.pick(['', ',', 'a, b', 'x'.repeat(300), '\x01'])}\r\nSec-WebSocket-Extensions: ${rng.pick(['permessage-deflate; client_max_window_bits', 'x-unknown', ';;;', 'permessage-deflate; server_max_window_bits=99'])}\r\n`,
      ),
    () => upgradeRequest(port, p, `X-Big: ${'b'.repeat(rng.int(8_000, 90_000))}\r\n`),
    () => upgradeRequest(port, p, Array.from({ length: rng.int(100, 300) }, (_, i) => `X-H${i}: v\r\n`).join('')),
    () =>
      upgradeRequest(
        port,
        rng.pick([
          '/app/\u00ff?protocol=7',
          `/app/${appKey}?protocol=7#frag`,
          '*',
          '/app/%?protocol=7',
          `/app/${appKey}?${'a=1&'.repeat(2000)}`,
        ]),
      ),
    () => upgradeRequest(port, p, 'Content-Length: 10\r\n') + '0123456789',
    () => upgradeRequest(port, p) + rng.bytes(rng.int(1, 300)).toString('latin1'),
  ])();
}

function request(rng: Rng, port: number, appKey: string): Buffer {
  const host = `Host: 127.0.0.1:${port}\r\n`;
  return rng.weighted<() => Buffer>([
    [4, () => rng.bytes(rng.size(4096))],
    [2, () => Buffer.from(rng.text(rng.size(600), 'GETPOS /HTP1.\r\n: abcdefghijklmnopqrstuvwxyz0123456789'))],
    [8, () => Buffer.from(upgrade(rng, port, appKey), 'latin1')],
    [4, () => mutate(rng, Buffer.from(upgradeRequest(port, APP_PATH(appKey))))],
    [
      3,
      () =>
        mutate(
          rng,
          Buffer.from(
            `POST /apps/app-id/events?auth_key=${appKey} HTTP/1.1\r\n${host}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
          ),
        ),
    ],
    [
      1,
      () =>
        Buffer.from(
          `POST /apps/app-id/events HTTP/1.1\r\n${host}Content-Length: ${rng.pick(['-1', '99999999999', '1, 2', 'abc', '0x10'])}\r\n\r\n{}`,
        ),
    ],
    [
      1,
      () =>
        Buffer.from(
          `POST /apps/app-id/events HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        ),
    ],
    [
      1,
      () =>
        Buffer.from(
          `POST /apps/app-id/events HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n${rng.pick(['fffffffffffffffff', 'g', '-1', '5;ext=\x00'])}\r\nhello\r\n0\r\n\r\n`,
        ),
    ],
    [1, () => Buffer.from(`GET /health HTTP/1.1\r\n${host}Expect: ${rng.pick(['100-continue', 'nonsense'])}\r\n\r\n`)],
    [1, () => Buffer.from(`GET /health HTTP/1.1\r\n${host}X-Folded: a\r\n b\r\nBad Header\r\n\x00: v\r\n\r\n`)],
    [1, () => Buffer.from(`GET /health HTTP/${rng.pick(['2.0', '0.9', '1.2', '9.9', 'x'])}\r\n${host}\r\n`)],
    [
      1,
      () =>
        Buffer.from(
          `GET /health HTTP/1.1\r\n${host}\r\n`.repeat(rng.int(2, 20)) +
            `GET /apps/app-id/channels HTTP/1.1\r\n${host}\r\n`,
        ),
    ],
    [
      1,
      () =>
        Buffer.from(
          `${rng.pick(['CONNECT 127.0.0.1:1 HTTP/1.1', 'TRACE / HTTP/1.1', 'PRI * HTTP/2.0', 'GET  / HTTP/1.1', 'GET / HTTP/1.1 extra'])}\r\n${host}\r\n`,
        ),
    ],
    [1, () => Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    [1, () => Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, ...rng.bytes(64)])],
  ])();
}

async function session(rng: Rng, port: number, appKey: string, stats: TcpFuzzStats): Promise<void> {
  const req = request(rng, port, appKey);
  const whole = rng.chance(0.7);
  const first = whole ? req : req.subarray(0, rng.int(0, req.length));
  const c = await WireClient.connect(port, first);
  stats.connections++;
  stats.bytes += req.length;
  try {
    if (!whole) {
      await sleep(rng.int(0, 5));
      if (rng.chance(0.5)) await c.write(req.subarray(first.length));
    }
    await c.until(() => c.status !== null, rng.chance(0.8) ? 100 : rng.int(0, 10));
    const status = c.status ?? -1;
    stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
    if (status >= 500 && stats.serverErrors.length < 10)
      stats.serverErrors.push(`${status} for ${JSON.stringify(req.subarray(0, 200).toString('latin1'))}`);
  } finally {
    c.destroy();
  }
}

/** Opens garbage connections until the deadline. */
export async function tcpWorker(
  rng: Rng,
  port: number,
  appKey: string,
  deadline: number,
  stats: TcpFuzzStats,
): Promise<void> {
  while (Date.now() < deadline) await session(rng, port, appKey, stats);
}
