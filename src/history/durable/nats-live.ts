/**
 * The live copies of one app's history events on this node (nats-store.ts): one ordered
 * JetStream consumer on the app's stream, in memory on the server, starting behind the stream's
 * last event when it opens. Every event of the app reaches every node this way, in the stream's
 * order, the publishing node included; each is handed on with its position (`wm_pos`) as a data
 * envelope of the topic, exactly as the redis store's copy comes on the topic's data subject, so
 * the Carrier drops those of topics without local subscribers and the rest goes to local delivery.
 *
 * Marks: a resume answer read up to stream sequence L has its mark handed on once this consumer
 * delivered every event up to L here, so every event after the answer arrives behind its mark
 * (history/resume.ts deduplicates what arrived before it by position).
 *
 * After a lost connection the ordered consumer is made again after the last event it delivered
 * (the library does it): nothing published meanwhile is missed, as long as the stream still keeps
 * it. A stream made again (new epoch) restarts the consumer at its beginning.
 */
import type { ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import { encodeData, encodeMark } from '../../cluster/envelope.js';
import type { Logger } from '../../log/logger.js';
import * as frames from '../../protocol/frames.js';
import { formatPosition } from '../position.js';
import type { AppStream } from './nats-stream.js';
import { STORE_ORIGIN, type StoreInbound } from './types.js';

/** Header of each stored event: the stream's epoch when it was published. */
export const EPOCH_HEADER = 'wm-e';
/** Header: the stream sequence of the channel's previous event (0: none kept when it was published). */
export const PREV_HEADER = 'wm-prev';
/** Header: the socket id the event is not delivered to (the publisher's own, `socket_id`). */
export const EXCEPT_HEADER = 'wm-x';

/** A pull request lasts this long (its idle heartbeats come at half of it: a dead one is noticed soon). */
const PULL_EXPIRES_MS = 5_000;
/** How often the feed looks whether it stalled (twice the same with events owed: made again). */
const STALL_MS = 250;
/** Marks waiting on this consumer at most (each is one resume in flight here; they are cheap). */
const MAX_MARKS = 100_000;

/** Consumer notifications after which the stream is checked (made again: a new epoch). */
const TROUBLE = new Set([
  'stream_not_found',
  'consumer_not_found',
  'consumer_deleted',
  'ordered_consumer_recreated',
  'heartbeats_missed',
]);

interface WaitingMark {
  upTo: number;
  topic: string;
  id: string;
}

export class LiveFeed {
  /** The stream sequence of the last event handed on (of the current epoch's stream). */
  private delivered = 0;
  private marks: WaitingMark[] = [];
  private messages: ConsumerMessages | null = null;
  /** The highest stream sequence known to exist (acks of appends, resume answers): the feed owes up to it. */
  private owed = 0;
  /** `delivered` at the watchdog's last look, and whether it owed more then. */
  private lastLook = { delivered: 0, behind: false };
  private watchdog: NodeJS.Timeout | null = null;
  private loop: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly deps: {
      js: JetStreamClient;
      stream: AppStream;
      inbound: StoreInbound;
      logger: Logger;
      /** The consumer was lost or made again: the stream may have been made again too (else `resume()`). */
      trouble(): void;
      /** The epoch of an event differs from the one this feed runs under. */
      epochSeen(epoch: string): void;
      /** An event of `topic` at stream sequence `seq` (keeps the store's last sequence per channel fresh). */
      seen(topic: string, seq: number): void;
    },
    private epoch: string,
  ) {}

  get position(): number {
    return this.delivered;
  }

  /** Starts after stream sequence `after`, under `epoch` (a stream made again: from its start). */
  async start(epoch: string, after: number): Promise<void> {
    await this.stop();
    if (epoch !== this.epoch) {
      // Marks of the stream before (another epoch): nothing of it comes any more.
      for (const mk of this.marks) this.deps.inbound(mk.topic, encodeMark(STORE_ORIGIN, mk.id));
      this.marks = [];
    }
    this.epoch = epoch;
    this.delivered = after;
    this.owed = after;
    await this.open();
  }

  /**
   * Makes the consumer again after the last event handed on. The library's ordered consumer does
   * this by itself after a lost connection, but (3.3.1) then pulls one message at a time and waits
   * out the pull's expiry before the next: this node would fall behind by seconds.
   */
  async resume(): Promise<void> {
    await this.stop();
    await this.open();
  }

  private async open(): Promise<void> {
    this.closed = false;
    const consumer = await this.deps.js.consumers.get(this.deps.stream.name, { opt_start_seq: this.delivered + 1 });
    const messages = await consumer.consume({ max_messages: 1_000, expires: PULL_EXPIRES_MS });
    this.messages = messages;
    this.lastLook = { delivered: this.delivered, behind: false };
    this.watchdog = setInterval(() => this.look(), STALL_MS);
    this.watchdog.unref();
    this.loop = this.run(messages).catch((err: unknown) => {
      if (!this.closed) this.deps.logger.error('history live feed stopped', { stream: this.deps.stream.name, err });
    });
    this.watch(messages).catch((err: unknown) => {
      if (!this.closed) this.deps.logger.warn('history live feed status watcher failed', { err });
    });
  }

  /** Stream sequence `seq` exists (an append was acked): the feed is due to deliver it. */
  owe(seq: number): void {
    if (seq > this.owed) this.owed = seq;
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    const messages = this.messages;
    this.messages = null;
    if (messages) {
      messages.stop();
      await this.loop;
    }
  }

  /**
   * Hands the mark of resume `id` on `topic` on once every event up to `upTo` (of `epoch`'s
   * stream) was handed on here: at once if that is so already.
   */
  mark(topic: string, id: string, epoch: string, upTo: number): void {
    if (epoch === this.epoch) this.owe(upTo);
    if (epoch !== this.epoch || upTo <= this.delivered) {
      this.deps.inbound(topic, encodeMark(STORE_ORIGIN, id));
      return;
    }
    if (this.marks.length >= MAX_MARKS) {
      // Never reached in practice (a resume waits resumeTimeoutMs at most); bounded all the same.
      this.deps.logger.warn('too many resume marks waiting on the history live feed: the oldest are dropped');
      this.marks = this.marks.slice(MAX_MARKS / 2);
    }
    this.marks.push({ upTo, topic, id });
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    const { stream, inbound } = this.deps;
    for await (const m of messages) {
      if (m.seq <= this.delivered) continue; // already handed on (a restart of the same stream)
      const topic = stream.topicOf(m.subject);
      this.delivered = m.seq;
      if (topic !== null) {
        const epoch = m.headers?.get(EPOCH_HEADER) ?? '';
        if (epoch !== this.epoch && epoch !== '') this.deps.epochSeen(epoch);
        this.deps.seen(topic, m.seq);
        const except = m.headers?.get(EXCEPT_HEADER) || undefined;
        const frame = frames.withPosition(m.string(), formatPosition({ epoch, serial: m.seq }));
        inbound(topic, encodeData(STORE_ORIGIN, except, frame));
      }
      if (this.marks.length > 0) this.flushMarks();
    }
  }

  /** Hands on the marks whose events were all handed on (and those of another epoch: nothing to wait for). */
  private flushMarks(): void {
    const waiting: WaitingMark[] = [];
    for (const mk of this.marks) {
      if (mk.upTo <= this.delivered) this.deps.inbound(mk.topic, encodeMark(STORE_ORIGIN, mk.id));
      else waiting.push(mk);
    }
    this.marks = waiting;
  }

  /**
   * Every STALL_MS: a feed that owed events at the last look and delivered none since is stalled
   * (seen under load: the client's pull stops until it expires); its consumer is made again.
   */
  private look(): void {
    if (this.closed) return;
    const behind = this.owed > this.delivered;
    if (behind && this.lastLook.behind && this.lastLook.delivered === this.delivered) {
      this.deps.logger.info('the history live feed stalled behind the stream; making its consumer again', {
        stream: this.deps.stream.name,
        delivered: this.delivered,
        owed: this.owed,
      });
      this.deps.trouble();
    }
    this.lastLook = { delivered: this.delivered, behind };
  }

  private async watch(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (this.closed) return;
      if (TROUBLE.has(s.type)) this.deps.trouble();
    }
  }
}
