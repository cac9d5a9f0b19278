/**
 * Pusher-protocol inputs for the fuzz test: frames a client could send (subscribe to every kind of
 * channel with good, bad or absent auth and channel_data, signin, client events, unknown events),
 * data that is huge, deeply nested, of the wrong type or full of `__proto__` keys, and mutations
 * of all of them (truncated, bytes flipped, spliced, invalid UTF-8). Valid signatures are computed
 * here from the socket id and the app secret, so a mutated frame can get past the auth check.
 */
import { createHmac } from 'node:crypto';
import type { Rng } from './fuzz-rng.js';

export interface FuzzApp {
  key: string;
  secret: string;
}

/** What a generator knows about the connection it writes for. */
export interface FrameContext {
  app: FuzzApp;
  socketId: string;
  /** Largest frame the server accepts. */
  maxFrameBytes: number;
  /** Channels this connection asked for (a client event usually goes to one of them). */
  channels: string[];
  /** The user id of the last signin attempt (for `#server-to-user-{id}`). */
  userId: string | null;
}

const sign = (secret: string, text: string): string => createHmac('sha256', secret).update(text).digest('hex');

/** `{"a":{"a":…}}` or `[[[…]]]` nested `depth` levels. */
export function deepJson(depth: number, array: boolean): string {
  return array ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/**
 * JSON text placed as is inside a generated value: nesting deeper than JSON.stringify can walk
 * (the server parses it iteratively, but anything that re-serializes it recursively overflows).
 */
export class RawJson {
  constructor(readonly json: string) {}
}

/** JSON.stringify that writes RawJson values verbatim; `undefined` at the top becomes `undefined`. */
export function toJson(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) =>
    v instanceof RawJson ? `__fuzz_raw_${raws.push(v.json) - 1}__` : v,
  );
  if (text === undefined) return 'undefined';
  return raws.length === 0 ? text : text.replace(/"__fuzz_raw_(\d+)__"/g, (_, i: string) => raws[Number(i)]!);
}

/** A JSON value of some awkward kind (as a JS value; nesting and size bounded by `budget` bytes). */
export function oddValue(rng: Rng, budget: number): unknown {
  switch (rng.int(0, 13)) {
    case 0:
      return rng.int(-1e9, 1e9);
    case 1:
      return rng.pick([0, -0, 1e308, -1e308, 5e-324, 2 ** 53 + 1, 0.1]);
    case 2:
      return null;
    case 3:
      return rng.chance(0.5);
    case 4:
      return [];
    case 5:
      return {};
    case 6:
      return 'x'.repeat(rng.size(Math.max(1, budget)));
    case 7:
      return new RawJson(deepJson(1 + rng.size(Math.min(20_000, Math.max(1, budget / 8))), rng.chance(0.5)));
    case 8:
      return JSON.parse(
        '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"toString":1,"valueOf":null}',
      );
    case 9:
      return [rng.int(0, 9), 'a', null, { b: [true] }];
    case 10:
      return '\u0000\ud800\udfff\u2028\u2029"\\' + rng.text(rng.int(0, 40), 'aé✓😀\u0000\n"\\');
    case 11:
      return { user_id: oddValue(rng, budget / 2), id: oddValue(rng, budget / 2) };
    case 12:
      return Array.from({ length: rng.size(Math.min(2_000, budget / 4)) }, (_, i) => i);
    default:
      return rng.text(rng.int(0, 64));
  }
}

/** A channel name of some kind, valid or not; small pools so that connections meet on channels. */
export function channelName(rng: Rng, ctx: FrameContext): unknown {
  const n = rng.int(0, 5);
  return rng.weighted<() => unknown>([
    [6, () => `fz-${n}`],
    [6, () => `private-fz-${n}`],
    [8, () => `presence-fz-${n}`],
    [2, () => `private-encrypted-fz-${n}`],
    [2, () => `cache-fz-${n}`],
    [2, () => `presence-cache-fz-${n}`],
    [2, () => `private-cache-fz-${n}`],
    [2, () => `#server-to-user-${ctx.userId ?? rng.int(0, 5)}`],
    [1, () => '#server-to-user-'],
    [
      1,
      () =>
        rng.pick([
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
          'presence-__proto__',
          'private-constructor',
        ]),
    ],
    [1, () => rng.pick(['', ' ', 'a b', 'ünïcode', 'fz\u0000', 'private-', 'presence-', 'fz-#', 'fz/1', '..'])],
    [1, () => 'fz-' + 'x'.repeat(rng.int(150, 400))],
    [1, () => oddValue(rng, 256)],
  ])();
}

function auth(rng: Rng, ctx: FrameContext, channel: unknown, channelData: unknown): unknown {
  const good = (): string => {
    const c = typeof channel === 'string' ? channel : toJson(channel);
    const text = typeof channelData === 'string' ? `${ctx.socketId}:${c}:${channelData}` : `${ctx.socketId}:${c}`;
    return `${ctx.app.key}:${sign(ctx.app.secret, text)}`;
  };
  return rng.weighted<() => unknown>([
    [10, good],
    [2, () => `${ctx.app.key}:${rng.bytes(32).toString('hex')}`],
    [1, () => `other-key:${good().split(':')[1]}`],
    [1, () => good().slice(0, rng.int(0, 80))],
    [1, () => undefined],
    [1, () => rng.pick(['', ':', `${ctx.app.key}:`, 'no-colon'])],
    [1, () => oddValue(rng, 64)],
  ])();
}

function memberData(rng: Rng, budget: number): unknown {
  return rng.weighted<() => unknown>([
    [8, () => toJson({ user_id: `user-${rng.int(0, 9)}`, user_info: { name: rng.text(rng.int(0, 12)) } })],
    [2, () => toJson({ user_id: rng.int(0, 9) })],
    [2, () => toJson({ user_id: oddValue(rng, 64), user_info: oddValue(rng, 2048) })],
    [2, () => toJson({ user_id: 'u', user_info: oddValue(rng, budget) })],
    [1, () => `{"user_id":"u","user_info":${deepJson(rng.int(100, Math.max(100, budget / 8)), rng.chance(0.5))}}`],
    [1, () => '{"user_id":"__proto__","user_info":{"__proto__":{"x":1}}}'],
    [1, () => rng.text(rng.int(0, 40), '{}[]":,ab0')],
    [1, () => oddValue(rng, 128)],
    [1, () => undefined],
  ])();
}

function userData(rng: Rng, ctx: FrameContext, budget: number): unknown {
  const id = rng.weighted<() => unknown>([
    [8, () => `user-${rng.int(0, 9)}`],
    [1, () => rng.int(0, 9)],
    [1, () => oddValue(rng, 64)],
  ])();
  if (typeof id === 'string' || typeof id === 'number') ctx.userId = String(id);
  const watchlist = rng.weighted<() => unknown>([
    [4, () => undefined],
    [4, () => Array.from({ length: rng.int(0, 5) }, () => `user-${rng.int(0, 9)}`)],
    [1, () => Array.from({ length: rng.int(100, 300) }, (_, i) => i)],
    [1, () => [{ toString: 1 }, { valueOf: null, toString: null }, null, [1, [2]], 'user-1']],
    [1, () => oddValue(rng, budget)],
  ])();
  return rng.weighted<() => unknown>([
    [10, () => toJson({ id, watchlist, name: rng.text(rng.int(0, 10)) })],
    [1, () => toJson(oddValue(rng, budget))],
    [1, () => rng.text(rng.int(0, 30), '{}[]":,id0')],
    [1, () => oddValue(rng, 64)],
  ])();
}

/** A well-formed (or nearly) Pusher frame, as a JS object to serialize. */
export function pusherFrame(rng: Rng, ctx: FrameContext): unknown {
  const budget = ctx.maxFrameBytes;
  return rng.weighted<() => unknown>([
    [
      14,
      () => {
        const channel = channelName(rng, ctx);
        if (typeof channel === 'string' && !ctx.channels.includes(channel) && ctx.channels.length < 40)
          ctx.channels.push(channel);
        const presence = typeof channel === 'string' && channel.startsWith('presence-');
        const channelData = presence || rng.chance(0.1) ? memberData(rng, budget) : undefined;
        const data: Record<string, unknown> = {
          channel,
          auth: auth(rng, ctx, channel, channelData),
          channel_data: channelData,
        };
        return { event: 'pusher:subscribe', data: rng.chance(0.15) ? toJson(data) : data };
      },
    ],
    [
      6,
      () => ({
        event: 'pusher:unsubscribe',
        data: { channel: rng.chance(0.8) && ctx.channels.length ? rng.pick(ctx.channels) : channelName(rng, ctx) },
      }),
    ],
    [
      5,
      () => {
        const user_data = userData(rng, ctx, budget / 2);
        const text = typeof user_data === 'string' ? user_data : toJson(user_data);
        const good = `${ctx.app.key}:${sign(ctx.app.secret, `${ctx.socketId}::user::${text}`)}`;
        const a = rng.weighted<() => unknown>([
          [8, () => good],
          [1, () => `${ctx.app.key}:${rng.bytes(32).toString('hex')}`],
          [1, () => oddValue(rng, 32)],
        ])();
        return { event: 'pusher:signin', data: { auth: a, user_data } };
      },
    ],
    [
      14,
      () => ({
        event: `client-${rng.text(rng.int(0, 12))}`,
        channel: rng.chance(0.85) && ctx.channels.length ? rng.pick(ctx.channels) : channelName(rng, ctx),
        data: rng.weighted<() => unknown>([
          [6, () => ({ msg: rng.text(rng.int(0, 50)) })],
          [4, () => oddValue(rng, budget)],
          [
            1,
            () => new RawJson(deepJson(6_000 + rng.size(Math.max(1, Math.floor(budget / 6) - 6_000)), rng.chance(0.5))),
          ],
          [0.3, () => 'y'.repeat(rng.int(90_000, 110_000))],
        ])(),
      }),
    ],
    [
      1,
      () => ({
        event: `client-${'n'.repeat(rng.int(190, 260))}`,
        channel: rng.pick(ctx.channels.length ? ctx.channels : ['fz-0']),
        data: {},
      }),
    ],
    [3, () => ({ event: rng.pick(['pusher:ping', 'pusher:pong']), data: rng.chance(0.5) ? {} : oddValue(rng, 64) })],
    [
      4,
      () => ({
        event: rng.pick([
          'pusher:unknown',
          'pusher_internal:subscription_succeeded',
          'pusher:connection_established',
          'pusher:error',
          'Client-x',
          'client-',
          '',
          rng.text(rng.int(1, 30)),
          '__proto__',
          'constructor',
        ]),
        channel: channelName(rng, ctx),
        data: oddValue(rng, 256),
      }),
    ],
    [3, () => ({ event: oddValue(rng, 64), data: oddValue(rng, 64), channel: oddValue(rng, 64) })],
    [
      2,
      () =>
        JSON.parse(
          '{"__proto__":{"event":"pusher:ping"},"event":"pusher:subscribe","data":{"__proto__":{"channel":"fz-0"}}}',
        ),
    ],
    [2, () => oddValue(rng, budget)],
  ])();
}

/** Breaks a serialized frame: truncation, flipped bytes, splices, duplication, invalid UTF-8. */
export function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = rng.int(1, 4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(0, b.length);
    switch (rng.int(0, 7)) {
      case 0:
        b = b.subarray(0, at);
        break;
      case 1:
        if (b.length > 0) b[Math.min(at, b.length - 1)] = rng.next() & 0xff;
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.int(1, 8)), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(rng.int(0, b.length))]);
        break;
      case 4:
        b = Buffer.concat([
          b.subarray(0, at),
          Buffer.from(rng.pick(['\xff', '\xc0\x80', '\xed\xa0\x80', '\xe2\x82', '\xf4\x90\x80\x80']), 'latin1'),
          b.subarray(at),
        ]);
        break;
      case 5:
        b = Buffer.concat([
          b.subarray(0, at),
          Buffer.from(rng.pick(['"', '{', '}', '[', ']', ',', ':', '\\', 'null', '1e999', '"__proto__":'])),
          b.subarray(at),
        ]);
        break;
      case 6:
        b = Buffer.concat([b, b]);
        break;
      default:
        b = Buffer.from(
          b.toString('latin1').replace(/"[^"]*"/, () => toJson(oddValue(rng, 64))),
          'latin1',
        );
    }
  }
  return b;
}

/** The payload of one text frame: mostly Pusher frames, some mutated, some not JSON at all. */
export function framePayload(rng: Rng, ctx: FrameContext): Buffer {
  return rng.weighted<() => Buffer>([
    [50, () => Buffer.from(toJson(pusherFrame(rng, ctx)))],
    [20, () => mutate(rng, Buffer.from(toJson(pusherFrame(rng, ctx))))],
    [1, () => Buffer.from(deepJson(1_000 + rng.size(Math.floor(ctx.maxFrameBytes / 2) - 1_002), rng.chance(0.5)))],
    [
      1,
      () => {
        // Sizes near and above the frame limit.
        const size = ctx.maxFrameBytes + rng.int(-64, 64);
        const head = `{"event":"client-big","channel":"${rng.pick(ctx.channels.length ? ctx.channels : ['private-fz-0'])}","data":"`;
        return Buffer.from(head + 'z'.repeat(Math.max(0, size - head.length - 2)) + '"}');
      },
    ],
    [3, () => rng.bytes(rng.size(512))],
    [3, () => Buffer.from(rng.text(rng.size(200), ' {}[]":,\\/eventdatchnl0123456789-_truefalsnul'))],
    [
      2,
      () =>
        Buffer.from(
          rng.pick([
            '',
            ' ',
            'null',
            '[]',
            '0',
            '""',
            'true',
            '{}',
            '{"event":null}',
            '{"event":"pusher:subscribe"}',
            '{"event":"pusher:subscribe","data":"{"}',
          ]),
        ),
    ],
  ])();
}
