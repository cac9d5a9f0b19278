/**
 * Resumes waiting on another node's answer. While one waits, its socket is not yet attached to the
 * channel's topic: every frame delivered to the topic on this node is buffered for it instead. It
 * completes when both the answer and the mark with its id have arrived (the mark proves this node
 * receives the channel's live stream; every later event arrives behind it): then the replay, the
 * buffered events not in it (deduplicated by position) and the attach happen in one go, so the
 * client gets every event once, in order, with no gap between replay and live.
 */
import type { Connection } from '../core/connection.js';
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
  attach: () => void;
  buffer: string[];
}

/** Sends what a completed resume owes the client, then attaches the socket to the live stream. */
export function complete(p: Pending, answer: Answer | null, overflow = false): void {
  const socket = p.conn.socket;
  const head = answer ? parsePosition(answer.head) : null;
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
  } else if (p.from === null) {
    // A new subscription: everything buffered is live to it; its position is the newest it has.
    let last = head;
    for (const f of p.buffer) {
      socket.send(f);
      const pos = positionOfFrame(f);
      if (pos && pos.epoch === last.epoch && pos.serial > last.serial) last = pos;
    }
    socket.send(frames.historyPosition(p.channel, formatPosition(last)));
  } else {
    for (const f of answer.frames) socket.send(f);
    socket.send(frames.historyResumed(p.channel, answer.head, answer.frames.length));
    for (const f of p.buffer) if (after(f, head)) socket.send(f);
  }
  p.buffer = [];
  p.attach();
}

/** False for an event of `head`'s epoch at or before it (already in the replay). */
function after(frame: string, head: Position): boolean {
  const pos = positionOfFrame(frame);
  return pos === null || pos.epoch !== head.epoch || pos.serial > head.serial;
}
