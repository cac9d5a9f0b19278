/**
 * Channel streams in NATS JetStream (`apps[].history.store: broker` on the nats driver): one
 * stream per app (nats-stream.ts), one subject per channel, appended to and replayed by any node.
 * Loaded only when configured (`@nats-io/jetstream` is an optional dependency). Needs JetStream on
 * the server (`nats-server -js`).
 *
 * - Position: `<epoch>:<stream sequence>`. Sequences of one channel are not contiguous (the
 *   stream holds every channel of the app), so each event carries the sequence of the channel's
 *   previous event (header `wm-prev`), made exact by publishing with JetStream's expected last
 *   subject sequence: two nodes appending to one channel at once cannot both claim the same
 *   predecessor (the loser refreshes it and tries again, a bounded number of times).
 * - Append: resolves once JetStream acked the event (then it is kept, and delivered); rejects
 *   otherwise (the HTTP API answers 503). Appends to one channel from this node go one after
 *   the other (each needs the sequence the previous one got).
 * - Live: every node receives every event of the app from its own ordered consumer (nats-live.ts),
 *   not only the channels it has subscribers on; the Carrier drops the others.
 * - Replay from S: the channel's last event L (direct get), then its events after S up to L (a
 *   short-lived ordered consumer filtered on the channel's subject, starting at S+1), each one's
 *   `wm-prev` checked against the one before: a break (events discarded past maxEvents, or
 *   expired) is `too_old`. Its mark is handed on once this node's consumer delivered up to L.
 *   A channel with no event kept after S has the stream's last sequence as its head (so a new
 *   subscription before a channel's first event holds a real position). When the chain cannot
 *   tell (S is no event of the channel, or the channel's events before the first kept one
 *   expired), nothing was missed only if nothing published after S could have expired since:
 *   the event at S is younger than maxAgeMs; else `too_old`, conservatively (also when the event
 *   at S is gone).
 */
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import {
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { HistoryConfig } from '../../config/schema.js';
import { httpError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import * as frames from '../../protocol/frames.js';
import { formatPosition, type Position } from '../position.js';
import type { Answer } from '../resume.js';
import { EPOCH_HEADER, EXCEPT_HEADER, LiveFeed, PREV_HEADER } from './nats-live.js';
import { AppStream, epochOf, type StreamPlacement } from './nats-stream.js';
import type { ChannelStore, StoreInbound } from './types.js';

/** Attempts of one append whose expected predecessor was taken by another node meanwhile. */
const APPEND_ATTEMPTS = 5;
const PUBLISH_TIMEOUT_MS = 5_000;
/** Channels whose last sequence is remembered per app (a miss costs one direct get). */
const MAX_CACHED_CHANNELS = 50_000;
/** A replay read gives up after this long (the resume then tries again, resumeTimeoutMs in all). */
const REPLAY_TIMEOUT_MS = 2_000;
/** The server drops a replay's consumer this long after its last use (the client stops it at once). */
const REPLAY_CONSUMER_IDLE_MS = 5_000;
/** How often a stream that went missing is looked for again. */
const CHECK_RETRY_MS = 1_000;
/** Appends of one channel waiting on this node at most; beyond, refused (503). */
const MAX_QUEUED_PER_CHANNEL = 10_000;
/** Room the headers take in a message, under the server's max_payload. */
const HEADER_ROOM = 256;

export interface NatsStoreOptions {
  servers: string[];
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
  /** The cluster's prefix (`cluster.nats.prefix`): stream names and subjects live under it. */
  prefix: string;
  placement: StreamPlacement;
  /** The apps that keep their history here, with their settings. */
  apps: ReadonlyMap<string, HistoryConfig>;
  inbound: StoreInbound;
}

interface AppState {
  stream: AppStream;
  config: HistoryConfig;
  epoch: string;
  feed: LiveFeed;
  /** The stream sequence of each channel's last event, as last seen (acks and the live feed). */
  last: Map<string, number>;
  /** Appends in flight per channel (this node's appends to one channel go in turn), and how many. */
  queue: Map<string, { tail: Promise<void>; waiting: number }>;
  checking: Promise<void> | null;
}

export class NatsChannelStore implements ChannelStore {
  readonly reconnectLoses = false;
  private readonly apps = new Map<string, AppState>();
  private down = false;
  private closed = false;
  private statusLoop: Promise<void> = Promise.resolve();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: NatsStoreOptions,
    private readonly logger: Logger,
  ) {}

  /**
   * Connects (waiting until a server answers), checks that JetStream is on, makes or updates each
   * app's stream and starts its live feed.
   */
  static async connect(options: NatsStoreOptions, logger: Logger): Promise<NatsChannelStore> {
    const log = logger.child({ store: 'nats', servers: options.servers });
    const nc = await connect({
      servers: options.servers,
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.pass === undefined ? {} : { pass: options.pass }),
      ...(options.token === undefined ? {} : { token: options.token }),
      name: 'wiremesh-history',
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
    });
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc);
    } catch (err) {
      await nc.close();
      if (!(err instanceof Error && err.name === 'JetStreamNotEnabled')) throw err;
      throw new Error(
        `apps[].history.store broker on the nats driver needs JetStream, which ${options.servers.join(', ')} ` +
          'does not offer: start nats-server with -js (or jetstream {} in its config), or set history.store to memory',
        { cause: err },
      );
    }
    const store = new NatsChannelStore(nc, jetstream(nc), jsm, options, log);
    try {
      for (const [appId, config] of options.apps) await store.open(appId, config);
    } catch (err) {
      await store.close();
      throw err;
    }
    store.statusLoop = store
      .watch()
      .catch((err: unknown) => log.error('nats history store status watcher failed', { err }));
    return store;
  }

  append(appId: string, topic: string, frame: string, exceptSocketId?: string): Promise<void> {
    const app = this.app(appId);
    if (this.down || this.closed)
      return Promise.reject(new Error('the nats history store is not connected: the event is refused'));
    const max = this.nc.info?.max_payload ?? 1024 * 1024;
    const bytes = Buffer.byteLength(frame);
    if (bytes + HEADER_ROOM > max)
      return Promise.reject(
        httpError(
          413,
          `The event (${bytes} bytes as a frame) does not fit in a NATS message: the nats-server's max_payload ` +
            `is ${max} bytes (history channels keep each event in one JetStream message)`,
        ),
      );
    const queued = app.queue.get(topic);
    if (queued && queued.waiting >= MAX_QUEUED_PER_CHANNEL)
      return Promise.reject(new Error(`${queued.waiting} events of this channel already wait for JetStream here`));
    const entry = queued ?? { tail: Promise.resolve(), waiting: 0 };
    entry.waiting++;
    const run = (): Promise<void> => this.publish(app, topic, frame, exceptSocketId);
    const mine = entry.tail.then(run, run);
    entry.tail = mine.catch(() => undefined);
    app.queue.set(topic, entry);
    void entry.tail.then(() => {
      if (--entry.waiting === 0 && app.queue.get(topic) === entry) app.queue.delete(topic);
    });
    return mine;
  }

  async replay(appId: string, topic: string, from: Position | null, id: string): Promise<Answer> {
    const app = this.app(appId);
    const subject = app.stream.subject(topic);
    const answer = (
      status: 'ok' | 'gap',
      head: Position,
      list: string[] = [],
      reason?: 'too_old' | 'reset',
    ): Answer => {
      // Every event up to the head reaches this node's consumer before the mark does.
      app.feed.mark(topic, id, head.epoch, head.serial);
      return { kind: 'replay', id, status, head: formatPosition(head), frames: list, ...(reason ? { reason } : {}) };
    };
    const last = await this.jsm.direct.getMessage(app.stream.name, { last_by_subj: subject });
    // The message is the stream's: an epoch other than the one known here means the stream was made again.
    if (last !== null && last.header.get(EPOCH_HEADER) !== app.epoch) await this.state(app);
    const kept = last?.seq ?? null;
    if (kept !== null && (from === null || (from.epoch === app.epoch && from.serial <= kept))) {
      const head = { epoch: app.epoch, serial: kept };
      if (from === null || from.serial === kept) return answer('ok', head);
      const list = await this.readAfter(app, subject, from.serial, kept);
      if (list === null) return answer('gap', head, [], 'too_old');
      return answer(
        'ok',
        head,
        list.map((m) => frames.withPosition(m.data, formatPosition({ epoch: head.epoch, serial: m.seq }))),
      );
    }
    // No event of the channel kept after `from` (or none at all): the stream's last sequence is the head.
    const head = { epoch: app.epoch, serial: (await this.state(app)).lastSeq };
    if (from === null) return answer('ok', head);
    if (from.epoch !== head.epoch || from.serial > head.serial) return answer('gap', head, [], 'reset');
    // Events of the channel after `from` may have come and expired: only if none could have, none was missed.
    if (await this.quiet(app, from.serial, Date.now())) return answer('ok', head);
    return answer('gap', head, [], 'too_old');
  }

  /**
   * The channel's events after `from` up to `to` (stream sequences), read by a short-lived ordered
   * consumer filtered on its subject, each checked to follow the one before (`wm-prev`); null when
   * something between may be missing (older than what is kept), or more than maxEvents would come.
   * The first may name a predecessor before `from` (`from` is no event of the channel, or the
   * channel's events before it expired): then nothing is missing if nothing after `from` could
   * have expired by the time it was published.
   */
  private async readAfter(
    app: AppState,
    subject: string,
    from: number,
    to: number,
  ): Promise<{ seq: number; data: string }[] | null> {
    const max = app.config.maxEvents;
    const consumer = await this.js.consumers.get(app.stream.name, {
      filter_subjects: subject,
      opt_start_seq: from + 1,
      inactive_threshold: REPLAY_CONSUMER_IDLE_MS,
    });
    const messages = await consumer.consume({ max_messages: max + 1, expires: REPLAY_TIMEOUT_MS });
    const timer = setTimeout(() => messages.stop(new Error('the replay read timed out')), REPLAY_TIMEOUT_MS);
    const list: { seq: number; data: string }[] = [];
    let prev = from;
    try {
      for await (const m of messages) {
        const named = Number(m.headers?.get(PREV_HEADER));
        if (list.length >= max) return null;
        if (list.length > 0 || (named === from && from !== 0)) {
          // It names the event before it (an event of this channel): the chain goes on, or is broken.
          if (named !== prev) return null;
        } else if (named > from || !(await this.quiet(app, from, m.time.getTime()))) {
          // `from` is no event of the channel (0, or another channel's), or the events before this one expired.
          return null;
        }
        list.push({ seq: m.seq, data: m.string() });
        prev = m.seq;
        if (m.seq >= to) return list;
      }
    } finally {
      clearTimeout(timer);
      messages.stop();
    }
    throw new Error('the replay read ended before the last event');
  }

  /**
   * Whether no event published after stream sequence `seq` could have expired by time `at` (ms):
   * true when the event at `seq` (any channel's; the stream's creation for 0) is younger than
   * maxAgeMs at `at`. False when that is unknown (the event is gone).
   */
  private async quiet(app: AppState, seq: number, at: number): Promise<boolean> {
    let since: number;
    if (seq === 0) {
      since = (await this.state(app)).created;
    } else {
      const m = await this.jsm.direct.getMessage(app.stream.name, { seq });
      if (m === null) return false;
      since = m.time.getTime();
    }
    return since > at - app.config.maxAgeMs;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const app of this.apps.values()) await app.feed.stop();
    if (!this.nc.isClosed()) await this.nc.close();
    await this.statusLoop;
  }

  private async open(appId: string, config: HistoryConfig): Promise<void> {
    const stream = new AppStream(this.options.prefix, appId);
    const { epoch, lastSeq } = await stream.ensure(this.jsm, config, this.options.placement);
    const app: AppState = {
      stream,
      config,
      epoch,
      last: new Map(),
      queue: new Map(),
      checking: null,
      feed: new LiveFeed(
        {
          js: this.js,
          stream,
          inbound: this.options.inbound,
          logger: this.logger,
          trouble: () => this.check(app),
          epochSeen: () => this.check(app),
          seen: (topic, seq) => this.remember(app, topic, seq),
        },
        epoch,
      ),
    };
    this.apps.set(appId, app);
    await app.feed.start(epoch, lastSeq);
    this.logger.info('history stream ready', { appId, stream: stream.name, epoch, lastSeq });
  }

  /** One attempt after another until JetStream takes the event with the channel's true predecessor. */
  private async publish(app: AppState, topic: string, frame: string, except: string | undefined): Promise<void> {
    const subject = app.stream.subject(topic);
    for (let attempt = 1; ; attempt++) {
      try {
        let prev = app.last.get(topic);
        if (prev === undefined) prev = await this.lastOf(app, subject);
        const h = headers();
        h.set(EPOCH_HEADER, app.epoch);
        h.set(PREV_HEADER, String(prev));
        if (except !== undefined) h.set(EXCEPT_HEADER, except);
        const ack = await this.js.publish(subject, frame, {
          headers: h,
          expect: { lastSubjectSequence: prev },
          timeout: PUBLISH_TIMEOUT_MS,
        });
        this.remember(app, topic, ack.seq);
        app.feed.owe(ack.seq);
        return;
      } catch (err) {
        if (attempt >= APPEND_ATTEMPTS) throw err;
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) {
          app.last.delete(topic);
        } else if (streamMissing(err) && !this.down) {
          await this.reopen(app);
        } else {
          throw err;
        }
      }
    }
  }

  /** The sequence of the channel's last kept event (0: none), learning the stream's epoch on the way. */
  private async lastOf(app: AppState, subject: string): Promise<number> {
    const m = await this.jsm.direct.getMessage(app.stream.name, { last_by_subj: subject });
    if (m === null) {
      await this.freshEpoch(app);
      return 0;
    }
    const epoch = m.header.get(EPOCH_HEADER);
    if (epoch !== app.epoch) await this.freshEpoch(app);
    return m.seq;
  }

  /** The stream's epoch as the server has it now (a stream made again has a new one). */
  private async freshEpoch(app: AppState): Promise<string> {
    await this.state(app);
    return app.epoch;
  }

  /** The stream's state as the server has it now, its epoch taken (a stream made again has a new one). */
  private async state(app: AppState): Promise<{ lastSeq: number; created: number }> {
    const info = await this.jsm.streams.info(app.stream.name);
    const epoch = epochOf(info);
    if (epoch !== null && epoch !== app.epoch) await this.newEpoch(app, epoch);
    return { lastSeq: info.state.last_seq, created: Date.parse(info.created) };
  }

  /** The stream was lost (deleted, or the server lost its storage): made again, with a new epoch. */
  private async reopen(app: AppState): Promise<void> {
    const { epoch } = await app.stream.ensure(this.jsm, app.config, this.options.placement);
    if (epoch !== app.epoch) await this.newEpoch(app, epoch);
  }

  private async newEpoch(app: AppState, epoch: string): Promise<void> {
    this.logger.warn('the history stream was made again (lost): clients holding older positions are told so', {
      stream: app.stream.name,
      before: app.epoch,
      epoch,
    });
    app.epoch = epoch;
    app.last.clear();
    await app.feed.start(epoch, 0);
  }

  /**
   * The live feed's consumer was lost or made again: compare epochs (a stream made again restarts
   * the feed at its start), else make the consumer again after the last event delivered. One at a
   * time; retried every second until it works (the server may be away).
   */
  private check(app: AppState): void {
    if (app.checking || this.closed) return;
    const before = app.epoch;
    app.checking = (async () => {
      await this.freshEpoch(app);
      if (app.epoch === before && !this.closed) await app.feed.resume();
    })().then(
      () => {
        app.checking = null;
      },
      (err: unknown) => {
        // Not there (yet): it is made again by the next append, here or on another node; look again.
        this.logger.debug('history stream check failed; checking again', { stream: app.stream.name, err });
        const timer = setTimeout(() => {
          app.checking = null;
          this.check(app);
        }, CHECK_RETRY_MS);
        timer.unref();
      },
    );
  }

  private remember(app: AppState, topic: string, seq: number): void {
    const known = app.last.get(topic);
    if (known !== undefined && known >= seq) return;
    if (known === undefined && app.last.size >= MAX_CACHED_CHANNELS) {
      const oldest = app.last.keys().next().value;
      if (oldest !== undefined) app.last.delete(oldest);
    }
    app.last.set(topic, seq);
  }

  private app(appId: string): AppState {
    const app = this.apps.get(appId);
    if (!app) throw new Error(`app ${appId} keeps no history in the nats store`);
    return app;
  }

  private async watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      if (s.type === 'disconnect') {
        if (!this.down)
          this.logger.warn(
            'nats history store connection lost; publishes on history channels are refused until it is back',
          );
        this.down = true;
      } else if (s.type === 'reconnect') {
        if (this.down) this.logger.info('nats history store connection restored');
        this.down = false;
      }
    }
  }
}

/**
 * No stream listens on the subject (deleted, or lost by the server): JetStream answers "no
 * responders", which the client reports as JetStream not being enabled; or the stream is not found.
 */
function streamMissing(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === JetStreamApiCodes.StreamNotFound;
  return err instanceof Error && (err.name === 'JetStreamNotEnabled' || err.name === 'NoRespondersError');
}
