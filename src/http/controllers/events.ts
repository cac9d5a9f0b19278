/** POST /apps/{id}/events and POST /apps/{id}/batch_events */
import { httpError } from '../../errors.js';
import { channelKind, channelNameProblem } from '../../protocol/channels.js';
import { infoFields, jsonBody, type ApiContext } from '../context.js';

interface EventInput {
  name: unknown;
  data: unknown;
  channels: string[];
  socket_id?: unknown;
  info?: unknown;
}

const SOCKET_ID = /^\d+\.\d+$/;

function validate(ctx: ApiContext, e: EventInput): void {
  const app = ctx.app;
  if (typeof e.name !== 'string' || e.name === '') throw httpError(400, 'Event name is required');
  if (e.name.length > app.maxEventNameLength)
    throw httpError(400, `Event name is longer than ${app.maxEventNameLength} characters`);
  if (e.data === undefined) throw httpError(400, 'Event data is required');
  let size: number;
  try {
    size = typeof e.data === 'string' ? Buffer.byteLength(e.data) : Buffer.byteLength(JSON.stringify(e.data));
  } catch (err) {
    throw httpError(400, 'Event data is nested too deeply', err); // JSON.stringify recurses; JSON.parse did not
  }
  if (size > app.maxEventPayloadBytes)
    throw httpError(413, `Event data is ${size} bytes, more than the ${app.maxEventPayloadBytes} allowed`);
  if (e.channels.length === 0) throw httpError(400, 'At least one channel is required');
  if (e.channels.length > app.maxEventChannels)
    throw httpError(400, `At most ${app.maxEventChannels} channels per event`);
  for (const ch of e.channels) {
    const problem = channelNameProblem(ch, ctx.maxChannelNameLength);
    if (problem) throw httpError(400, `Invalid channel ${JSON.stringify(String(ch).slice(0, 200))}: ${problem}`);
  }
  if (e.channels.length > 1 && e.channels.some((c) => channelKind(c) === 'encrypted')) {
    throw httpError(400, 'An event to an encrypted channel must have exactly one channel');
  }
  if (e.socket_id !== undefined && (typeof e.socket_id !== 'string' || !SOCKET_ID.test(e.socket_id))) {
    throw httpError(400, 'socket_id must look like 123.456');
  }
}

function channelInfo(ctx: ApiContext, channels: string[], info: Set<string>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = Object.create(null); // a channel may be "__proto__"
  for (const ch of channels) {
    const snap = ctx.queries.channel(ctx.app.id, ch);
    const entry: Record<string, number> = {};
    if (info.has('subscription_count')) entry.subscription_count = snap.subscriptionCount;
    if (info.has('user_count') && snap.userCount !== undefined) entry.user_count = snap.userCount;
    out[ch] = entry;
  }
  return out;
}

function toInput(raw: Record<string, unknown>): EventInput {
  const channels = Array.isArray(raw.channels) ? raw.channels : raw.channel !== undefined ? [raw.channel] : [];
  if (!channels.every((c) => typeof c === 'string')) throw httpError(400, 'Channels must be strings');
  return { name: raw.name, data: raw.data, channels: channels as string[], socket_id: raw.socket_id, info: raw.info };
}

/**
 * Publishes `e` on each of its channels. Returns the appends still pending (channels whose stream
 * is kept in a store, core/streams.ts), added to `pending`; undefined when every event is on its way.
 */
function publish(ctx: ApiContext, e: EventInput, pending?: Promise<void>[]): Promise<void>[] | undefined {
  for (const ch of e.channels) {
    const kept = ctx.publisher.publish(ctx.app, ch, e.name as string, e.data, e.socket_id as string | undefined);
    if (kept !== undefined) (pending ??= []).push(kept);
  }
  return pending;
}

/** `body` once every pending append is kept; one that failed fails the request (500). */
function whenKept(pending: Promise<void>[] | undefined, body: unknown): unknown {
  return pending === undefined ? body : allKept(pending, body);
}

async function allKept(pending: Promise<void>[], body: unknown): Promise<unknown> {
  await Promise.all(pending);
  return body;
}

export function triggerEvent(ctx: ApiContext): unknown {
  const e = toInput(jsonBody(ctx));
  validate(ctx, e);
  const pending = publish(ctx, e);
  const requested = e.info ?? ctx.query.info;
  if (typeof requested !== 'string' || requested === '') return whenKept(pending, {}); // the common case: no info asked
  const info = infoFields(requested);
  return whenKept(pending, info.size > 0 ? { channels: channelInfo(ctx, e.channels, info) } : {});
}

export function triggerBatch(ctx: ApiContext): unknown {
  const body = jsonBody(ctx);
  if (!Array.isArray(body.batch)) throw httpError(400, 'batch must be an array of events');
  if (body.batch.length > ctx.app.maxEventBatchSize)
    throw httpError(400, `At most ${ctx.app.maxEventBatchSize} events per batch`);
  const events = body.batch.map((raw: unknown) => {
    if (raw === null || typeof raw !== 'object') throw httpError(400, 'Every batch entry must be an object');
    const e = toInput(raw as Record<string, unknown>);
    validate(ctx, e);
    return e;
  });
  // All validated before any is published: a batch is accepted or refused whole.
  let pending: Promise<void>[] | undefined;
  for (const e of events) pending = publish(ctx, e, pending);
  const wantsInfo = events.some((e) => infoFields(e.info).size > 0);
  if (!wantsInfo) return whenKept(pending, {});
  return whenKept(pending, {
    batch: events.map((e) => {
      const info = infoFields(e.info);
      const ch = e.channels[0] as string;
      return info.size > 0 ? (channelInfo(ctx, [ch], info)[ch] ?? {}) : {};
    }),
  });
}
