/**
 * The WebSocket part of the fuzz test: many short raw connections, each upgrading (usually to a
 * valid app path), then writing a burst of frames — Pusher frames from fuzz-pusher.ts, wrapped in
 * frames that are themselves sometimes wrong (binary, fragmented, unmasked, reserved bits, bad
 * opcodes, oversized control frames, lying lengths, odd close codes) — and ending abruptly,
 * mid-frame, with a close handshake, or half-closed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { APP_PATH, encodeFrame, OP, textFrame, WireClient } from './fuzz-wire.js';
import { framePayload, pusherFrame, toJson, type FrameContext, type FuzzApp } from './fuzz-pusher.js';
import type { Rng } from './fuzz-rng.js';

export interface WsFuzzEnv {
  port: number;
  apps: FuzzApp[];
  maxFrameBytes: number;
  deadline: number;
}

export interface WsFuzzStats {
  connections: number;
  established: number;
  frames: number;
  bytes: number;
  /** Close codes the server sent, by code. */
  closeCodes: Map<number, number>;
  /** Text and binary frames the server sent. */
  received: number;
  receivedBinary: number;
}

export function newWsStats(): WsFuzzStats {
  return { connections: 0, established: 0, frames: 0, bytes: 0, closeCodes: new Map(), received: 0, receivedBinary: 0 };
}

function path(rng: Rng, app: FuzzApp): string {
  return rng.weighted<() => string>([
    [40, () => APP_PATH(app.key)],
    [1, () => '/app/no-such-key?protocol=7'],
    [1, () => `/app/${app.key}`],
    [1, () => `/app/${app.key}?protocol=${rng.pick(['3', '8', 'abc', '7.5', '', '-7', '1e1', '0x7'])}`],
    [1, () => `/app/%E0%A4%A?protocol=7`],
    [1, () => `/app/${app.key}/?protocol=7&protocol=4`],
    [1, () => `/app/${encodeURIComponent(app.key)}%2F?protocol=7`],
    [
      1,
      () => rng.pick(['/', '/apps/app-id/events', '/app', '/app//', '/app/__proto__?protocol=7', '/health?protocol=7']),
    ],
  ])();
}

/** One frame on the wire, usually a masked text frame carrying a Pusher payload. */
function wireFrame(rng: Rng, ctx: FrameContext): Buffer {
  const payload = (): Buffer => framePayload(rng, ctx);
  return rng.weighted<() => Buffer>([
    [80, () => textFrame(payload())],
    [4, () => encodeFrame(payload(), { opcode: OP.BINARY })],
    [
      4,
      () => {
        // A legal fragmented text message, sometimes with a ping between the fragments.
        const p = Buffer.from(toJson(pusherFrame(rng, ctx)));
        const cut = rng.int(0, p.length);
        const parts = [encodeFrame(p.subarray(0, cut), { opcode: OP.TEXT, fin: false })];
        if (rng.chance(0.3)) parts.push(encodeFrame(rng.bytes(rng.int(0, 125)), { opcode: OP.PING }));
        parts.push(encodeFrame(p.subarray(cut), { opcode: OP.CONT }));
        return Buffer.concat(parts);
      },
    ],
    [3, () => encodeFrame(rng.bytes(rng.int(0, 125)), { opcode: rng.pick([OP.PING, OP.PONG]) })],
    [1, () => encodeFrame(rng.bytes(rng.int(126, 400)), { opcode: OP.PING })],
    [1, () => encodeFrame(payload(), { opcode: OP.TEXT, rsv: rng.int(1, 7) })],
    [1, () => encodeFrame(payload(), { opcode: rng.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) })],
    [1, () => encodeFrame(payload(), { opcode: OP.TEXT, mask: false })],
    [1, () => encodeFrame(payload(), { opcode: OP.CONT })],
    [1, () => encodeFrame(payload(), { opcode: OP.TEXT, fin: false })],
    [1, () => encodeFrame(Buffer.from('{"event":"pusher:ping","data":{}}'), { opcode: OP.TEXT, wideLength: true })],
    [
      1,
      () =>
        encodeFrame(Buffer.alloc(0), {
          opcode: OP.TEXT,
          declaredLength: rng.pick([2 ** 31, 2 ** 40, 2 ** 53 - 1, ctx.maxFrameBytes + 1]),
        }),
    ],
    [
      1,
      () => {
        const code = rng.pick([0, 999, 1000, 1004, 1005, 1006, 1015, 2999, 4100, 5000, 65535]);
        const body = Buffer.alloc(2);
        body.writeUInt16BE(code);
        const reason = rng.chance(0.3) ? Buffer.from([0xff, 0xfe]) : Buffer.from(rng.text(rng.int(0, 20)));
        return encodeFrame(rng.chance(0.2) ? Buffer.from([1]) : Buffer.concat([body, reason]), { opcode: OP.CLOSE });
      },
    ],
  ])();
}

/** A text frame the transport will accept (valid UTF-8, within the size limit): its payload reaches the core. */
function cleanFrame(rng: Rng, ctx: FrameContext): Buffer {
  const text = framePayload(rng, ctx).subarray(0, ctx.maxFrameBytes).toString('utf8');
  const payload = Buffer.from(text);
  return textFrame(
    payload.length <= ctx.maxFrameBytes ? payload : Buffer.from(text.slice(0, Math.floor(ctx.maxFrameBytes / 3))),
  );
}

/** A burst of valid subscribe/unsubscribe pairs on presence and private channels (races in presence state). */
function churn(rng: Rng, ctx: FrameContext): Buffer[] {
  const out: Buffer[] = [];
  const n = rng.int(5, 40);
  for (let i = 0; i < n; i++) {
    const frame = pusherFrame(rng, ctx) as { event?: string };
    if (frame?.event !== 'pusher:subscribe') continue;
    out.push(textFrame(toJson(frame)));
    const data = (frame as { data: unknown }).data;
    if (typeof data === 'string') continue; // subscribe data sent as a JSON string
    out.push(
      textFrame(toJson({ event: 'pusher:unsubscribe', data: { channel: (data as { channel: unknown }).channel } })),
    );
  }
  return out;
}

async function session(rng: Rng, env: WsFuzzEnv, stats: WsFuzzStats): Promise<void> {
  const app = rng.pick(env.apps);
  const c = await WireClient.open(env.port, path(rng, app), 2_000);
  stats.connections++;
  try {
    if (!c.socketId) return;
    stats.established++;
    const ctx: FrameContext = {
      app,
      socketId: c.socketId,
      maxFrameBytes: env.maxFrameBytes,
      channels: [],
      userId: null,
    };
    const frames = rng.chance(0.15) ? churn(rng, ctx) : [];
    // Most sessions send only frames the transport accepts, so they live long enough to reach deeper
    // states; the others also break the WebSocket framing, which usually ends them early.
    const clean = rng.chance(0.6);
    const n = rng.size(80);
    for (let i = 0; i < n; i++) frames.push(clean ? cleanFrame(rng, ctx) : wireFrame(rng, ctx));
    // Most sessions write their burst at once; some pace it, so that their subscriptions live long
    // enough to meet other sessions' client events, presence changes and HTTP publishes.
    const paced = rng.chance(0.2);
    for (const f of frames) {
      if (c.ended) break;
      await c.write(f);
      stats.frames++;
      stats.bytes += f.length;
      if (paced) await sleep(rng.int(0, 3));
      else if (rng.chance(0.05)) await sleep(0);
    }
    await end(rng, c, ctx);
  } finally {
    if (c.closeCode !== null) stats.closeCodes.set(c.closeCode, (stats.closeCodes.get(c.closeCode) ?? 0) + 1);
    stats.received += c.textCount + c.binaryCount;
    stats.receivedBinary += c.binaryCount;
    c.destroy();
  }
}

async function end(rng: Rng, c: WireClient, ctx: FrameContext): Promise<void> {
  switch (rng.int(0, 4)) {
    case 0:
      return; // destroyed at once
    case 1: {
      // Cut in the middle of a frame.
      const f = textFrame(framePayload(rng, ctx));
      c.socket.write(f.subarray(0, rng.int(1, Math.max(1, f.length - 1))));
      if (rng.chance(0.5)) await sleep(rng.int(0, 5));
      return;
    }
    case 2:
      await c.write(encodeFrame(Buffer.from([0x03, 0xe8]), { opcode: OP.CLOSE }));
      await c.until(() => c.ended, 200);
      return;
    case 3:
      c.socket.end();
      await c.until(() => c.ended, 200);
      return;
    default:
      await c.until(() => c.ended, rng.int(5, 60));
  }
}

/** Runs sessions until the deadline. */
export async function wsWorker(rng: Rng, env: WsFuzzEnv, stats: WsFuzzStats): Promise<void> {
  while (Date.now() < env.deadline) await session(rng, env, stats);
}
