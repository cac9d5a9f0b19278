/**
 * A raw Pusher client on a history channel, for the broker stores' edge tests
 * (history-broker-redis, history-broker-nats; `isStart` also history-single): subscribed, maybe
 * resuming from a position, with the frames that followed its subscription, the numbers of its
 * `n` events and their positions.
 */
import { RawClient, appUrl, type Frame } from '../helpers/ws-raw.js';

export interface Resumed {
  raw: RawClient;
  /** Frames on the channel after subscription_succeeded. */
  frames: () => Frame[];
}

export async function subscribe(port: number, channel: string, resume?: string): Promise<Resumed> {
  const raw = new RawClient(appUrl(port));
  await raw.established();
  raw.send({ event: 'pusher:subscribe', data: { channel, ...(resume === undefined ? {} : { wm_resume: resume }) } });
  await raw.next((f) => f.event === 'pusher_internal:subscription_succeeded', 'subscribed');
  const at = raw.frames.findIndex((f) => f.event === 'pusher_internal:subscription_succeeded');
  return { raw, frames: () => raw.frames.slice(at + 1) };
}

/** A new subscription's confirmation: `subscription_succeeded` naming where it starts (`wm_pos`). */
export const isStart = (f: Frame): boolean => f.event === 'pusher_internal:subscription_succeeded' && 'wm_pos' in f;

/** The numbers of the `n` events it received after subscribing, in order. */
export const numbers = (r: Resumed): number[] =>
  r.frames().flatMap((f) => (f.event === 'n' ? [(JSON.parse(f.data as string) as { n: number }).n] : []));

/** The position (`wm_pos`) of the event numbered `n` it received. */
export const posOf = (raw: RawClient, n: number): string => {
  const text = raw.texts.find((t) => t.includes(`\\"n\\":${n}}`));
  if (!text) throw new Error(`event ${n} not received`);
  return (JSON.parse(text) as { wm_pos: string }).wm_pos;
};
