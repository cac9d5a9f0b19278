/**
 * How many WebSocket connections a process can hold: its open-file limit (RLIMIT_NOFILE, the
 * soft value, which Node raises to the hard one at start) less headroom for everything else that
 * needs a descriptor: the listening sockets, /health and HTTP API requests, webhook deliveries,
 * the cluster backend and Livewire backends, logs, Node's own. At the limit the node refuses new
 * WebSockets (4100) but keeps answering /health and reaching its backends, instead of failing
 * accept() and connect() alike (EMFILE).
 *
 * Node has no getrlimit: on Linux the limit is read from /proc/self/limits; elsewhere (or if it
 * cannot be read) a fixed default is used.
 */
import { readFileSync } from 'node:fs';

/** Used when the open-file limit cannot be read. */
export const FALLBACK_OPEN_FILES = 10_240;

/** Descriptors kept free: at least this many, or this share of the limit if that is more. */
export const MIN_HEADROOM = 256;
export const HEADROOM_SHARE = 0.05;

/** The soft "Max open files" of `/proc/self/limits` text; null if absent or "unlimited". */
export function parseOpenFileLimit(limits: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (!m || m[1] === 'unlimited') return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

export function readOpenFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): {
  limit: number;
  source: string;
} {
  let text: string;
  try {
    text = read();
  } catch {
    return { limit: FALLBACK_OPEN_FILES, source: 'default' }; // not Linux, or /proc not mounted
  }
  const limit = parseOpenFileLimit(text);
  return limit === null ? { limit: FALLBACK_OPEN_FILES, source: 'default' } : { limit, source: 'RLIMIT_NOFILE' };
}

/** Connections allowed for an open-file limit of `openFiles`: the limit less the headroom (at least 1). */
export function connectionsFor(openFiles: number): number {
  const headroom = Math.max(MIN_HEADROOM, Math.ceil(openFiles * HEADROOM_SHARE));
  return Math.max(1, openFiles - headroom);
}

/** `limits.maxConnections` as a number (0 = no limit), with where it came from for the start-up log. */
export function resolveMaxConnections(
  setting: number | 'auto',
  read?: () => string,
): { maxConnections: number; openFiles?: number; source: string } {
  if (setting !== 'auto') return { maxConnections: setting, source: 'config' };
  const { limit, source } = readOpenFileLimit(read);
  return { maxConnections: connectionsFor(limit), openFiles: limit, source };
}
