/**
 * The streams this node sequences, per app: at most `maxChannels` per app (the least recently
 * used goes first; a client resuming on it is then told the gap is unknown, never silently
 * served nothing). Idle empty streams are kept a while so a client at the head still resumes.
 */
import type { HistoryConfig } from '../config/schema.js';
import { ChannelStream } from './stream.js';

/** An empty stream is forgotten after this many age periods without events. */
const KEEP_EMPTY_PERIODS = 10;

export class HistoryStore {
  private readonly apps = new Map<string, Map<string, ChannelStream>>();

  constructor(private readonly configOf: (appId: string) => HistoryConfig | undefined) {}

  get(appId: string, topic: string): ChannelStream | undefined {
    return this.apps.get(appId)?.get(topic);
  }

  /** Replaces this node's stream of `topic` with a new one of `epoch` (a copy of another node's). */
  adopt(appId: string, topic: string, epoch: string, now: number): ChannelStream {
    const config = this.configOf(appId);
    if (!config) throw new Error(`app ${appId} keeps no history`);
    this.apps.get(appId)?.delete(topic);
    const stream = this.open(appId, topic, now, epoch);
    return stream;
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

  /** The stream of `topic`, created (a new epoch) if this node has none; most recently used. */
  open(appId: string, topic: string, now: number, epoch?: string): ChannelStream {
    const config = this.configOf(appId);
    if (!config) throw new Error(`app ${appId} keeps no history`);
    let streams = this.apps.get(appId);
    if (!streams) this.apps.set(appId, (streams = new Map()));
    let stream = streams.get(topic);
    if (stream) {
      streams.delete(topic); // re-inserted last: Map order is the LRU order
    } else {
      stream = new ChannelStream(config, now, epoch);
      while (streams.size >= config.maxChannels) {
        const oldest = streams.keys().next().value as string;
        streams.delete(oldest);
      }
    }
    streams.set(topic, stream);
    return stream;
  }

  /** Drops expired events, and empty streams idle for long. */
  sweep(now: number): void {
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
