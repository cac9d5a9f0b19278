/**
 * The streams this node sequences, per app: at most `maxChannels` per app (the least recently
 * used goes first; a client resuming on it is then told the gap is unknown, never silently
 * served nothing). Idle empty streams are kept a while so a client at the head still resumes.
 *
 * Only publishes make streams (`open`). A resume of a channel nobody published on (`peek`) gets an
 * empty stream from a pool of its own, bounded the same way, so resumes of made-up channel names
 * can neither grow this node's memory nor push a real channel's stream out; a publish moves the
 * channel's empty stream (its epoch) over, so a client that resumed before the first event still
 * gets it.
 */
import type { HistoryConfig } from '../config/schema.js';
import { ChannelStream } from './stream.js';

/** An empty stream is forgotten after this many age periods without events. */
const KEEP_EMPTY_PERIODS = 10;

export class HistoryStore {
  private readonly apps = new Map<string, Map<string, ChannelStream>>();
  /** Per app: empty streams that only resumes asked for (LRU, at most `maxChannels`). */
  private readonly asked = new Map<string, Map<string, ChannelStream>>();

  constructor(private readonly configOf: (appId: string) => HistoryConfig | undefined) {}

  get(appId: string, topic: string): ChannelStream | undefined {
    return this.apps.get(appId)?.get(topic);
  }

  /** Replaces this node's stream of `topic` with a new one of `epoch` (a copy of another node's). */
  adopt(appId: string, topic: string, epoch: string, now: number): ChannelStream {
    const config = this.configOf(appId);
    if (!config) throw new Error(`app ${appId} keeps no history`);
    this.apps.get(appId)?.delete(topic);
    this.asked.get(appId)?.delete(topic);
    return lru(this.apps, appId, topic, config.maxChannels, () => new ChannelStream(config, now, epoch));
  }

  delete(appId: string, topic: string): void {
    const streams = this.apps.get(appId);
    streams?.delete(topic);
    if (streams?.size === 0) this.apps.delete(appId);
  }

  /** Every stream kept here, with its app and topic. */
  *entries(): Generator<[appId: string, topic: string, stream: ChannelStream]> {
    for (const [appId, streams] of this.apps) for (const [topic, s] of streams) yield [appId, topic, s];
  }

  /** The stream of `topic` to publish on, created (a new epoch) if this node has none; most recently used. */
  open(appId: string, topic: string, now: number): ChannelStream {
    const config = this.configOf(appId);
    if (!config) throw new Error(`app ${appId} keeps no history`);
    const asked = this.asked.get(appId)?.get(topic);
    if (asked) this.asked.get(appId)?.delete(topic);
    return lru(this.apps, appId, topic, config.maxChannels, () => asked ?? new ChannelStream(config, now));
  }

  /** The stream of `topic` to answer a resume from: the published one, else an empty one of the resumes' pool. */
  peek(appId: string, topic: string, now: number): ChannelStream {
    const config = this.configOf(appId);
    if (!config) throw new Error(`app ${appId} keeps no history`);
    const published = this.apps.get(appId)?.get(topic);
    if (published) return published;
    const stream = lru(this.asked, appId, topic, config.maxChannels, () => new ChannelStream(config, now));
    stream.lastUsed = now;
    return stream;
  }

  /** Drops expired events, and empty streams idle for long. */
  sweep(now: number): void {
    for (const [appId, streams] of this.asked) {
      const config = this.configOf(appId);
      for (const [topic, stream] of streams)
        if (!config || now - stream.lastUsed > config.maxAgeMs * KEEP_EMPTY_PERIODS) streams.delete(topic);
      if (streams.size === 0) this.asked.delete(appId);
    }
    for (const [appId, streams] of this.apps) {
      const config = this.configOf(appId);
      for (const [topic, stream] of streams) {
        if (stream.expire(now) && (!config || now - stream.lastUsed > config.maxAgeMs * KEEP_EMPTY_PERIODS))
          streams.delete(topic);
      }
      if (streams.size === 0) this.apps.delete(appId);
    }
  }

  /** Streams and bytes kept (metrics, benchmarks). */
  stats(): { channels: number; events: number; bytes: number } {
    let channels = 0;
    let events = 0;
    let bytes = 0;
    for (const streams of this.apps.values()) {
      for (const s of streams.values()) {
        channels++;
        events += s.length;
        bytes += s.bytes;
      }
    }
    return { channels, events, bytes };
  }
}

/** `topic`'s entry in `app`'s map, made by `make` when missing (the least recently used go beyond `max`); now the most recent. */
function lru(
  apps: Map<string, Map<string, ChannelStream>>,
  appId: string,
  topic: string,
  max: number,
  make: () => ChannelStream,
): ChannelStream {
  let streams = apps.get(appId);
  if (!streams) apps.set(appId, (streams = new Map()));
  let stream = streams.get(topic);
  if (stream) {
    streams.delete(topic); // re-inserted last: Map order is the LRU order
  } else {
    stream = make();
    while (streams.size >= max) streams.delete(streams.keys().next().value as string);
  }
  streams.set(topic, stream);
  return stream;
}
