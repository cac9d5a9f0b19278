/**
 * Wire formats between nodes. Versioned; never a language's own serialization.
 *
 * Channel traffic (hot path) is a text envelope, so a frame is carried without re-encoding:
 *   `W1\n<origin node id>\n<except socket id or empty>\n<frame>`
 * Control messages are JSON objects `{ v: 1, type, from, ... }`. Only `v`, `type` and `from` are
 * the cluster's; every other field belongs to the feature that registered the type (presence,
 * history, the core), which checks it on arrival (cluster/node.ts dispatches by type).
 */

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

/**
 * A control message as it arrives: the envelope checked, the other fields unread. The types in use
 * (each with its owner): `hb`, `bye` (cluster/node.ts), `snap_req`, `snap` (presence/cluster.ts),
 * `user`, `cache` (core/cluster.ts), `hist` (history/cluster.ts).
 */
export interface ControlMessage {
  readonly v: 1;
  readonly type: string;
  readonly from: string;
  readonly [field: string]: unknown;
}

/** A control message's own fields (everything but `v`, `type`, `from`). */
export type ControlFields = Readonly<Record<string, unknown>>;

/** Longest message type name accepted (the names in use are a few characters). */
const MAX_TYPE = 32;

export function encodeControl(type: string, from: string, fields: ControlFields): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, type, from, ...fields }));
}

/** Parses a control message's envelope; throws a TypeError naming what is wrong. */
export function decodeControl(buf: Buffer): ControlMessage {
  const msg = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg))
    throw new TypeError('control message is not an object');
  if (msg.v !== 1) throw new TypeError(`unsupported control message version ${String(msg.v).slice(0, 20)}`);
  if (typeof msg.type !== 'string' || msg.type === '' || msg.type.length > MAX_TYPE)
    throw new TypeError('control message without a type');
  if (typeof msg.from !== 'string' || msg.from === '') throw new TypeError('control message without sender');
  return msg as ControlMessage;
}

/**
 * A mark on a topic's data subject: `W1M\n<origin>\n<id>`, behind every frame its origin forwarded
 * on the topic before (channel history uses it, history/resumer.ts). Nodes that predate it see no
 * `W1\n` envelope and drop it with a warning; clients never see it.
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
  /** A node's own subject; the node id is reduced to one safe token (NATS splits on `.`). */
  node(nodeId: string): string {
    return `${this.prefix}.n.${nodeId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }
  isData(subject: string): boolean {
    return subject.startsWith(this.dataPrefix);
  }
  topicOf(subject: string): string {
    return Buffer.from(subject.slice(this.dataPrefix.length), 'base64url').toString();
  }
}
