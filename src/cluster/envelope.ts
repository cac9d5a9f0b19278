/**
 * Wire formats between nodes. Versioned; never a language's own serialization.
 *
 * Channel traffic (hot path) is a text envelope, so a frame is carried without re-encoding:
 *   `W1\n<origin replica>\n<except socket id or empty>\n<frame>`
 * Control messages are JSON objects `{ v: 1, type, from, ... }`.
 */
import type { Delta, Snapshot } from '../presence/state.js';
import type { UserCommand } from './types.js';
import { checkHistoryMessage, type HistoryMessage } from '../history/wire.js';

const DATA_MAGIC = 'W1\n';

export function encodeData(origin: string, exceptSocketId: string | undefined, frame: string): Buffer {
  return Buffer.from(`${DATA_MAGIC}${origin}\n${exceptSocketId ?? ''}\n${frame}`);
}

export interface DataEnvelope {
  origin: string;
  except: string | undefined;
  frame: string;
}

/** Returns null for anything that is not a version-1 data envelope. */
export function decodeData(buf: Buffer): DataEnvelope | null {
  if (buf.length < 5 || buf[0] !== 0x57 || buf[1] !== 0x31 || buf[2] !== 0x0a) return null;
  const a = buf.indexOf(0x0a, 3);
  if (a < 0) return null;
  const b = buf.indexOf(0x0a, a + 1);
  if (b < 0) return null;
  const except = buf.toString('latin1', a + 1, b);
  return {
    origin: buf.toString('utf8', 3, a),
    except: except === '' ? undefined : except,
    frame: buf.toString('utf8', b + 1),
  };
}

export type ControlMessage =
  /** Sent every heartbeat period and whenever local presence changed; carries the delta since the last one. */
  | {
      v: 1;
      type: 'hb';
      from: string;
      clock: number;
      delta: Delta | null;
      conns: Record<string, number>;
      /** Optional, versioned on its own (`{ v: 1, … }`, dashboard/stats.ts): sent only while a dashboard watches. */
      stats?: unknown;
    }
  /** Ask `to` for the full entries of `replica` (sent directly to `to`). */
  | { v: 1; type: 'snap_req'; from: string; replica: string }
  | { v: 1; type: 'snap'; from: string; snapshot: Snapshot }
  | { v: 1; type: 'user'; from: string; app: string; user: string; command: UserCommand }
  | { v: 1; type: 'cache'; from: string; topic: string; frame: string }
  /** Graceful leave: keep my entries for `handoffMs`, then drop them. */
  | { v: 1; type: 'bye'; from: string; handoffMs: number }
  /** Channel history between a channel's owner and the other nodes (history/wire.ts). */
  | { v: 1; type: 'hist'; from: string; body: HistoryMessage };

export function encodeControl(msg: ControlMessage): Buffer {
  return Buffer.from(JSON.stringify(msg));
}

const TYPES = new Set(['hb', 'snap_req', 'snap', 'user', 'cache', 'bye', 'hist']);

/** Parses a control message; throws a TypeError naming what is wrong. */
export function decodeControl(buf: Buffer): ControlMessage {
  const msg = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  if (msg === null || typeof msg !== 'object') throw new TypeError('control message is not an object');
  if (msg.v !== 1) throw new TypeError(`unsupported control message version ${String(msg.v)}`);
  if (typeof msg.type !== 'string' || !TYPES.has(msg.type))
    throw new TypeError(`unknown control message type ${String(msg.type)}`);
  if (typeof msg.from !== 'string' || msg.from === '') throw new TypeError('control message without sender');
  if (msg.type === 'hist') checkHistoryMessage(msg.body);
  return msg as unknown as ControlMessage;
}

/**
 * A history mark on a channel's data subject (history/resume.ts): `W1M\n<origin>\n<id>`. Nodes
 * that predate it see no `W1\n` envelope and drop it with a warning; clients never see it.
 */
const MARK_MAGIC = 'W1M\n';

export function encodeMark(origin: string, id: string): Buffer {
  return Buffer.from(`${MARK_MAGIC}${origin}\n${id}`);
}

/** The mark's id, or null when the payload is not a mark (a data envelope, most often). */
export function decodeMark(buf: Buffer): { origin: string; id: string } | null {
  if (buf.length < 6 || buf[0] !== 0x57 || buf[1] !== 0x31 || buf[2] !== 0x4d || buf[3] !== 0x0a) return null;
  const a = buf.indexOf(0x0a, 4);
  if (a < 0 || buf.length - a > 65) return null;
  return { origin: buf.toString('utf8', 4, a), id: buf.toString('latin1', a + 1) };
}

/** Subjects on the backend. Topics are base64url-encoded so any app id or channel name is safe. */
export class Subjects {
  readonly control: string;
  private readonly dataPrefix: string;
  constructor(private readonly prefix: string) {
    this.control = `${prefix}.ctl`;
    this.dataPrefix = `${prefix}.t.`;
  }
  data(topic: string): string {
    return this.dataPrefix + Buffer.from(topic).toString('base64url');
  }
  /** A node's own subject; the replica id is reduced to one safe token (NATS splits on `.`). */
  node(replica: string): string {
    return `${this.prefix}.n.${replica.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }
  isData(subject: string): boolean {
    return subject.startsWith(this.dataPrefix);
  }
  topicOf(subject: string): string {
    return Buffer.from(subject.slice(this.dataPrefix.length), 'base64url').toString();
  }
}
