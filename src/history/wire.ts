/**
 * History messages between nodes (inside control messages of type `hist`, history/cluster.ts).
 * Every field is checked and bounded on receipt: a peer's message is input like any other.
 *
 * - `seq`: a node asks the channel's history node to sequence, keep and publish an event; `passed`:
 *   a node handing its streams over passed it on (it is not passed on again). `id` (to nodes that
 *   keep copies): the sender's counter; the owner answers `ack` `{upTo}` once it has sequenced
 *   every `seq` of that sender up to it. What a node sent to an owner that died unacknowledged, it
 *   sends the next owner with `retry`, which skips those already in its copy (by `<sender>:<id>`,
 *   carried in `rep` as `pids`).
 * - `replay_req`: a node asks for what a resuming client missed after `from` (null: only the head).
 * - `replay`: the answer, sent to the asking node; the history node also publishes a mark with the
 *   same id on the channel's data subject, behind every event it published before answering.
 *   `reply` on a request names the node to answer when it was passed on by a node handing its
 *   streams over (history/cluster.ts).
 * - `rep` (to nodes whose heartbeats carry `histRep`): the owner's copy of a channel's stream for the
 *   next node in rendezvous order, which continues the same epoch if the owner goes away
 *   (history/replication.ts). `frames` end at `head`, one serial each; `snap`: they are the whole
 *   stream kept (its first copy on that node, or a hand-over), else the events after the last `rep`.
 */
export type HistoryMessage =
  | { kind: 'seq'; topic: string; frame: string; except?: string; passed?: true; id?: number; retry?: true }
  | { kind: 'ack'; upTo: number }
  | { kind: 'replay_req'; id: string; topic: string; from: string | null; reply?: string }
  | { kind: 'rep'; topic: string; head: string; frames: string[]; snap: boolean; pids?: string[] }
  | { kind: 'replay'; id: string; status: 'ok' | 'gap'; reason?: 'too_old' | 'reset'; head: string; frames: string[] };

const MAX_TOPIC = 1_024;
const MAX_FRAME = 2 * 1024 * 1024;
const MAX_FRAMES = 10_000;
const MAX_ID = 64;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isStr = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/** Checks a decoded `hist` body; throws a TypeError naming what is wrong. */
export function checkHistoryMessage(body: unknown): HistoryMessage {
  if (body === null || typeof body !== 'object') throw new TypeError('history message is not an object');
  const m = body as Record<string, unknown>;
  switch (m.kind) {
    case 'seq':
      if (!isStr(m.topic, MAX_TOPIC) || !isStr(m.frame, MAX_FRAME))
        throw new TypeError('seq needs a topic and a frame');
      if (m.except !== undefined && !isStr(m.except, MAX_ID)) throw new TypeError('seq except must be a socket id');
      if (m.passed !== undefined && m.passed !== true) throw new TypeError('seq passed must be true');
      if (m.id !== undefined && !isCount(m.id)) throw new TypeError('seq id must be a positive integer');
      if (m.retry !== undefined && (m.retry !== true || m.id === undefined))
        throw new TypeError('seq retry needs an id');
      if (!m.frame.startsWith('{') || !m.frame.endsWith('}')) throw new TypeError('seq frame is not a JSON object');
      break;
    case 'ack':
      if (!isCount(m.upTo)) throw new TypeError('ack upTo must be a positive integer');
      break;
    case 'replay_req':
      if (!isStr(m.id, MAX_ID) || !isStr(m.topic, MAX_TOPIC)) throw new TypeError('replay_req needs an id and a topic');
      if (m.from !== null && !isStr(m.from, 40)) throw new TypeError('replay_req from must be a position or null');
      if (m.reply !== undefined && !isStr(m.reply, MAX_ID)) throw new TypeError('replay_req reply must be a node id');
      break;
    case 'rep':
      if (!isStr(m.topic, MAX_TOPIC) || !isStr(m.head, 40)) throw new TypeError('rep needs a topic and a head');
      if (typeof m.snap !== 'boolean') throw new TypeError('rep snap must be a boolean');
      if (!Array.isArray(m.frames) || m.frames.length > MAX_FRAMES || !m.frames.every((f) => isStr(f, MAX_FRAME)))
        throw new TypeError('rep frames must be a bounded list of frames');
      if (
        m.pids !== undefined &&
        (!Array.isArray(m.pids) ||
          m.pids.length !== m.frames.length ||
          !m.pids.every((p) => typeof p === 'string' && p.length <= MAX_ID * 2))
      )
        throw new TypeError('rep pids must be one string per frame');
      break;
    case 'replay':
      if (!isStr(m.id, MAX_ID) || !isStr(m.head, 40)) throw new TypeError('replay needs an id and a head');
      if (m.status !== 'ok' && m.status !== 'gap') throw new TypeError('replay status must be ok or gap');
      if (m.reason !== undefined && m.reason !== 'too_old' && m.reason !== 'reset')
        throw new TypeError('unknown replay gap reason');
      if (!Array.isArray(m.frames) || m.frames.length > MAX_FRAMES || !m.frames.every((f) => isStr(f, MAX_FRAME))) {
        throw new TypeError('replay frames must be a bounded list of frames');
      }
      break;
    default:
      throw new TypeError(`unknown history message kind ${String(m.kind).slice(0, 20)}`);
  }
  return m as unknown as HistoryMessage;
}
