/**
 * Every frame of the Pusher protocol (version 7), typed, built and parsed in this one module.
 * Handlers never write `{ event: 'pusher:…' }` literals: they call these functions, which return the
 * serialized text ready for the transport. Channel events are serialized once per publish.
 */
import { PusherError, ErrorCodes } from '../errors.js';

/**
 * Member `id` with its user_info (`null` when it has none), encoded for `presenceSucceeded`: its
 * `"id"` and `"id":info`, already escaped for the frame's string-in-a-string `data`.
 */
export function presenceMember(id: string, info: unknown): { id: string; pair: string } {
  const key = str(id);
  return { id: inString(key), pair: inString(`${key}:${str(info ?? null)}`) };
}

/** `s` as it appears inside a JSON string: `JSON.stringify(s)` without its quotes. */
function inString(s: string): string {
  return str(s).slice(1, -1);
}

export interface WatchlistEvent {
  name: 'online' | 'offline';
  user_ids: string[];
}

const str = JSON.stringify;

// The hot frames below are assembled from JSON.stringify'd parts: the same text as stringifying
// the whole object, without building the object.

export function connectionEstablished(socketId: string, activityTimeout: number): string {
  if (Number.isInteger(activityTimeout) && isPlainSocketId(socketId)) {
    // Digits, a dot and an integer need no escaping at either level: skip JSON.stringify's scans.
    return `{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"${socketId}\\",\\"activity_timeout\\":${activityTimeout}}"}`;
  }
  const data = `{"socket_id":${str(socketId)},"activity_timeout":${str(activityTimeout)}}`;
  return `{"event":"pusher:connection_established","data":${str(data)}}`;
}

/** Only digits and dots, as the socket ids wiremesh hands out. */
function isPlainSocketId(id: string): boolean {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if ((c < 48 || c > 57) && c !== 46) return false;
  }
  return id.length > 0;
}

/** The single place a PusherError becomes a frame. */
export function errorFrame(err: PusherError): string {
  return str({ event: 'pusher:error', data: { code: err.code, message: err.message } });
}

export function pong(): string {
  return '{"event":"pusher:pong","data":{}}';
}

export function ping(): string {
  return '{"event":"pusher:ping","data":{}}';
}

export function subscriptionSucceeded(channel: string): string {
  return `{"event":"pusher_internal:subscription_succeeded","channel":${str(channel)},"data":"{}"}`;
}

const PRESENCE_MIDDLE = Buffer.from('],\\"hash\\":{');

/**
 * A presence channel's `subscription_succeeded`, in pieces for the transport to write one after
 * the other: `ids` and `pairs` are the members' `presenceMember` encodings joined by commas, in
 * order (core/presence-list.ts keeps them per channel, and shares them between frames). The text
 * of stringifying `{ presence: { ids, hash, count } }` twice, except that the hash lists members
 * in the given order (`JSON.stringify` would put integer-like ids first).
 */
export function presenceSucceeded(channel: string, ids: Buffer, pairs: Buffer, count: number): Buffer[] {
  const head = `{"event":"pusher_internal:subscription_succeeded","channel":${str(channel)},"data":"{\\"presence\\":{\\"ids\\":[`;
  return [Buffer.from(head), ids, PRESENCE_MIDDLE, pairs, Buffer.from(`},\\"count\\":${count}}}"}`)];
}

/** A refused subscription (bad auth, limits). pusher-js raises it as the channel's `pusher:subscription_error`. */
export function subscriptionError(channel: string, err: PusherError): string {
  return str({
    event: 'pusher:subscription_error',
    channel,
    data: { type: 'AuthError', error: err.message, status: err.status, code: err.code },
  });
}

export function memberAdded(channel: string, userId: string, userInfo: unknown): string {
  const data = userInfo === undefined ? str({ user_id: userId }) : str({ user_id: userId, user_info: userInfo });
  return str({ event: 'pusher_internal:member_added', channel, data });
}

export function memberRemoved(channel: string, userId: string): string {
  return str({ event: 'pusher_internal:member_removed', channel, data: str({ user_id: userId }) });
}

export function cacheMiss(channel: string): string {
  return str({ event: 'pusher:cache_miss', channel });
}

export function signinSuccess(userData: string): string {
  return str({ event: 'pusher:signin_success', data: str({ user_data: userData }) });
}

export function watchlistEvents(events: WatchlistEvent[]): string {
  return str({ event: 'pusher_internal:watchlist_events', data: str({ events }) });
}

/** A wiremesh extension event (`wiremesh:*`), e.g. a tunnelled HTTP response. */
export function extensionEvent(event: `wiremesh:${string}`, data: unknown): string {
  return str({ event, data });
}

/** The Livewire tunnel's frames to the client (docs/livewire-protocol.md). */
export interface TunnelResponse {
  id: string;
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  url: string;
  redirected: boolean;
  body: string;
  /** false: `wiremesh:chunk` frames follow with the rest of the body. */
  done: boolean;
  setCookies: string[];
}

export interface TunnelChunk {
  id: string;
  chunk: string;
  done: boolean;
  /** Only on a last chunk whose body was cut short (backend failed or response too large). */
  error?: string;
}

export type FallbackCode = 'not_allowed' | 'busy' | 'backend_unavailable' | 'too_large' | 'disabled';

export interface TunnelFallback {
  id: string;
  reason: string;
  code: FallbackCode;
}

/** The answer to `wiremesh:session`: the token of this connection's session sync, and whether cookies can follow at all. */
export interface TunnelSession {
  token: string;
  sync: boolean;
  reason: string;
  /** Where the page POSTs the token (a path on the socket's own origin). */
  path: string;
  /** The largest frame this server reads (`limits.maxFrameBytes`): a larger request goes over HTTP. */
  maxFrameBytes?: number;
}

export const tunnelResponse = (data: TunnelResponse): string => extensionEvent('wiremesh:response', data);
export const tunnelSession = (data: TunnelSession): string => extensionEvent('wiremesh:session', data);
export const tunnelChunk = (data: TunnelChunk): string => extensionEvent('wiremesh:chunk', data);
export const tunnelFallback = (data: TunnelFallback): string => extensionEvent('wiremesh:fallback', data);

/** Shared fragments (docs/fragments.md): new HTML of one fragment, to the node's viewers of it. */
export interface FragmentHtml {
  fragment: string;
  channel: string;
  /** The node that rendered it (a new node numbers its versions afresh). */
  epoch: string;
  /** Increases with every render this node delivers; a page never applies a lower one of the same epoch. */
  version: number;
  html: string;
}

export const fragmentHtml = (data: FragmentHtml): string => extensionEvent('wiremesh:fragment', data);

/**
 * A channel event. `data` is passed through as the publisher sent it: a string from the HTTP API,
 * any JSON value from a client event. Built once per publish, sent to every recipient unchanged.
 */
export function channelEvent(event: string, channel: string, data: unknown, userId?: string): string {
  try {
    if (typeof data === 'string' && userId === undefined)
      return `{"event":${str(event)},"channel":${str(channel)},"data":${str(data)}}`;
    return userId === undefined ? str({ event, channel, data }) : str({ event, channel, data, user_id: userId });
  } catch (err) {
    // JSON.parse is iterative but JSON.stringify recurses: data nested deeper than the stack allows.
    throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'Event data is nested too deeply', { status: 400, cause: err });
  }
}

// ---- Channel history (src/history/): a stream position rides as a top-level `wm_pos` field,
// which pusher-js's decoder drops (it keeps only event, channel, data and user_id).

/** A channel event frame (from channelEvent) carrying its position `<epoch>:<serial>`. */
export function withPosition(frame: string, position: string): string {
  return `${frame.slice(0, -1)},"wm_pos":${str(position)}}`;
}

/** After a resume: every missed event was replayed; live events follow. */
export function historyResumed(channel: string, position: string, replayed: number): string {
  return `{"event":"wiremesh:resumed","channel":${str(channel)},"data":${str(str({ replayed }))},"wm_pos":${str(position)}}`;
}

export type GapReason = 'too_old' | 'reset' | 'unavailable' | 'overflow';

/** The missed events cannot be replayed (the app should reload the channel's state); live events follow. */
export function historyGap(channel: string, reason: GapReason, position?: string): string {
  const pos = position === undefined ? '' : `,"wm_pos":${str(position)}`;
  return `{"event":"wiremesh:gap","channel":${str(channel)},"data":${str(str({ reason }))}${pos}}`;
}

// ---------------------------------------------------------------------------------------------
// Incoming frames

export type ClientFrame =
  | { kind: 'ping' }
  | { kind: 'pong' }
  | { kind: 'subscribe'; channel: unknown; auth: unknown; channelData: unknown; resume: unknown }
  | { kind: 'unsubscribe'; channel: unknown }
  | { kind: 'signin'; auth: unknown; userData: unknown }
  | { kind: 'client-event'; event: string; channel: unknown; data: unknown }
  /** wiremesh's own events on the same socket (`wiremesh:*`), e.g. the Livewire tunnel. */
  | { kind: 'extension'; event: string; data: unknown };

const invalid = (message: string): PusherError => new PusherError(ErrorCodes.INVALID_MESSAGE, message);

function objectData(data: unknown): Record<string, unknown> {
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch (err) {
      throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'data is not valid JSON', { cause: err });
    }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw invalid('data must be an object');
  return data as Record<string, unknown>;
}

/** Parses a client's text frame. Throws a non-fatal PusherError (4302) on anything malformed. */
export function parseClientFrame(text: string): ClientFrame {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch (err) {
    throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'Invalid JSON', { cause: err });
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw invalid('Frame must be a JSON object');
  const { event, data, channel } = msg as Record<string, unknown>;
  if (typeof event !== 'string' || event.length === 0) throw invalid('Frame has no event name');
  switch (event) {
    case 'pusher:ping':
      return { kind: 'ping' };
    case 'pusher:pong':
      return { kind: 'pong' };
    case 'pusher:subscribe': {
      const d = objectData(data);
      return { kind: 'subscribe', channel: d.channel, auth: d.auth, channelData: d.channel_data, resume: d.wm_resume };
    }
    case 'pusher:unsubscribe':
      return { kind: 'unsubscribe', channel: objectData(data).channel };
    case 'pusher:signin': {
      const d = objectData(data);
      return { kind: 'signin', auth: d.auth, userData: d.user_data };
    }
  }
  if (event.startsWith('client-')) return { kind: 'client-event', event, channel, data };
  if (event.startsWith('wiremesh:')) return { kind: 'extension', event, data };
  throw invalid(`Unknown event: ${event.slice(0, 64)}`);
}
