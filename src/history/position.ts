/**
 * A position in a channel's stream: the epoch (which node's stream, since when) and the serial of
 * the event in it. Written `<epoch>:<serial>` in frames (`wm_pos`) and in resume requests.
 */
import { randomBytes } from 'node:crypto';

export interface Position {
  epoch: string;
  serial: number;
}

const POSITION = /^([A-Za-z0-9_-]{1,16}):(\d{1,15})$/;

export function formatPosition(p: Position): string {
  return `${p.epoch}:${p.serial}`;
}

/** Parses `<epoch>:<serial>`; null for anything else (never throws: the input is a client's). */
export function parsePosition(value: unknown): Position | null {
  if (typeof value !== 'string' || value.length > 32) return null;
  const m = POSITION.exec(value);
  if (!m) return null;
  return { epoch: m[1] as string, serial: Number(m[2]) };
}

/** A fresh epoch: a new stream of a channel (a new history node, or the first event in a long while). */
export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/** The `wm_pos` a frame built by frames.withPosition carries, or null (only parsed off the hot path). */
export function positionOfFrame(frame: string): Position | null {
  const at = frame.lastIndexOf(',"wm_pos":"');
  if (at < 0 || !frame.endsWith('"}')) return null;
  return parsePosition(frame.slice(at + 11, -2));
}
