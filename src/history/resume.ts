/**
 * Resumes waiting on another node's answer. While one waits, its socket is not yet attached to the
 * channel's topic: every frame delivered to the topic on this node is buffered for it instead. It
 * completes when both the answer and the mark with its id have arrived (the mark proves this node
 * receives the channel's live stream; every later event arrives behind it): then the
 * subscription's confirmation, the replay, the buffered events not in it (deduplicated by
 * position) and the attach happen in one go, so the client gets every event once, in order, with
 * no gap between replay and live.
 *
 * The confirmation (`subscription_succeeded`) waits for the answer so that a client never holds a
 * subscription without a position to resume it from: a new subscription's carries its starting
 * position (`wm_pos`, the stream's head), and its events are those after it; a resume's carries
 * none (the client keeps the position it asked from until the replay moves it on). A client cut
 * off before the confirmation was never subscribed, and subscribes anew.
 */
import type { Connection } from '../core/connection.js';
import type { Confirm } from '../core/streams.js';
import type { TextFrame } from '../transport/types.js';
import * as frames from '../protocol/frames.js';
import { formatPosition, parsePosition, positionOfFrame, type Position } from './position.js';
import type { HistoryMessage } from './wire.js';

export type Answer = Extract<HistoryMessage, { kind: 'replay' }>;

/** One client's resume on this node, waiting for its answer (alone, or with others asking the same). */
export interface Pending {
  conn: Connection;
  channel: string;
  topic: string;
  /** null: a new subscription, which only needs its starting position. */
  from: Position | null;
  /** The subscription's confirmation, sent when the resume completes (a copy: see `keep`). */
  succeeded: string;
  confirmed: () => void;
  attach: () => void;
  buffer: string[];
}

/** A resume refused before it started (a malformed position, over budget): confirmed with a gap at once. */
export function refuse(conn: Connection, channel: string, confirm: Confirm, reason: 'reset' | 'unavailable'): void {
  conn.socket.send(confirm.succeeded);
  confirm.confirmed();
  conn.socket.send(frames.historyGap(channel, reason));
  confirm.attach();
}

/** Sends what a completed resume owes the client, then attaches the socket to the live stream. */
export function complete(p: Pending, answer: Answer | null, overflow = false): void {
  const socket = p.conn.socket;
  const head = answer ? parsePosition(answer.head) : null;
  const startsNew = p.from === null && answer?.status === 'ok' && head !== null;
  socket.send(startsNew ? frames.withPosition(p.succeeded, formatPosition(head)) : p.succeeded);
  p.confirmed();
  if (answer?.head === '') {
    // No stream (a store creates one only with its first event): nothing to replay, all is live.
    if (answer.status === 'gap') socket.send(frames.historyGap(p.channel, answer.reason ?? 'reset'));
    for (const f of p.buffer) socket.send(f);
  } else if (!answer || !head) {
    socket.send(frames.historyGap(p.channel, overflow ? 'overflow' : 'unavailable'));
    for (const f of p.buffer) socket.send(f);
  } else if (answer.status === 'gap') {
    socket.send(frames.historyGap(p.channel, answer.reason ?? 'reset', answer.head));
    for (const f of p.buffer) if (after(f, head)) socket.send(f);
  } else if (startsNew) {
    // A new subscription starts after the head its confirmation names: its events are those after it.
    for (const f of p.buffer) if (after(f, head)) socket.send(f);
  } else {
    for (const f of answer.frames) socket.send(f);
    socket.send(frames.historyResumed(p.channel, answer.head, answer.frames.length));
    for (const f of p.buffer) if (after(f, head)) socket.send(f);
  }
  p.buffer = [];
  p.attach();
}

/**
 * A confirmation to send later, as a string of its own: a presence channel's comes in pieces that
 * are views of the channel's encoded member list, which the next subscription rewrites.
 */
export function keep(succeeded: TextFrame): string {
  if (typeof succeeded === 'string') return succeeded;
  return Buffer.concat(Buffer.isBuffer(succeeded) ? [succeeded] : succeeded).toString();
}

/** False for an event of `head`'s epoch at or before it (already in the replay). */
function after(frame: string, head: Position): boolean {
  const pos = positionOfFrame(frame);
  return pos === null || pos.epoch !== head.epoch || pos.serial > head.serial;
}
