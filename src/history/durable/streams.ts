/**
 * Channel history kept in the broker (`apps[].history.store: broker`), behind the core's
 * ChannelStreams port: no owner node on the way. A publish on such a channel is appended to its
 * stream, which publishes it live in the same step (durable/types.ts): every node, this one
 * included, delivers the broker's copy, in the stream's order. Nothing is delivered before the
 * store kept it, and a publish it refused is refused to the caller (the HTTP API answers 503).
 *
 * A resume goes to the Resumer (history/resumer.ts), which asks the store: its answer is read in
 * one step with a mark published behind it, so the resume completes as a peer's does (the reply,
 * then what arrived meanwhile, deduplicated by position). Each client address has a budget of
 * resumes (history/budget.ts); beyond it the client is told the gap is unknown.
 *
 * Channels of apps whose history stays in memory, and channels without history, go `next`.
 */
import type { Connection } from '../../core/connection.js';
import type { TopicFanout } from '../../core/delivery.js';
import type { ChannelStreams, Confirm, Except } from '../../core/streams.js';
import { parseTopic } from '../../core/topics.js';
import { httpError, PusherError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import * as frames from '../../protocol/frames.js';
import type { ClusterFeature } from '../../cluster/types.js';
import type { HistoryChannels } from '../channels.js';
import type { Resumer } from '../resumer.js';
import type { ResumeBudget } from '../budget.js';
import { refuse } from '../resume.js';
import type { ChannelStore } from './types.js';

/** Log lines about refused appends, at most one per this many ms (an outage refuses every publish). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
const SWEEP_FROM = 1_024;

export class StoreStreams implements ChannelStreams {
  private refusals = { count: 0, loggedAt: 0 };
  /** Topics in the store on which clients resumed here (topic → channel): told of a lost connection. */
  private readonly served = new Map<string, string>();
  /** `served` is swept of topics without subscribers when it reaches this size (then twice what is left). */
  private sweepAt = SWEEP_FROM;

  constructor(
    private readonly deps: {
      channels: HistoryChannels;
      store: Pick<ChannelStore, 'append'>;
      resumer: Pick<Resumer, 'resume' | 'cancel' | 'waiting'>;
      budget: ResumeBudget;
      next: ChannelStreams;
      /** The transport's own fan-out: gap notices after this node's broker connection came back. */
      fanout: TopicFanout;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  publish(appId: string, topic: string, frame: string, except?: Except): void | Promise<void> {
    if (!this.inStore(appId, topic)) return this.deps.next.publish(appId, topic, frame, except);
    const exceptId = typeof except === 'string' || except === undefined ? except : except.socketId;
    return this.deps.store.append(appId, topic, frame, exceptId).catch((err: unknown) => {
      // An event the store can never keep (too large for the broker): the caller's error, not to retry.
      if (err instanceof PusherError && err.status < 500) throw err;
      this.refused(appId, topic, err);
      throw httpError(503, 'The history store did not keep the event (it was not delivered): retry', err);
    });
  }

  resume(conn: Connection, channel: string, topic: string, request: unknown, confirm: Confirm): boolean {
    if (request === undefined || !this.inStore(conn.app.id, topic))
      return this.deps.next.resume(conn, channel, topic, request, confirm);
    const perSecond = this.deps.channels.configOf(conn.app.id)?.resumesPerSecond ?? 1;
    if (!this.deps.budget.take(conn.socket.remoteAddress, perSecond)) {
      this.deps.logger.info('too many resumes from one address: answered with a gap', {
        appId: conn.app.id,
        socketId: conn.socketId,
        address: conn.socket.remoteAddress,
        channel,
      });
      refuse(conn, channel, confirm, 'unavailable');
      return true;
    }
    this.served.set(topic, channel);
    if (this.served.size >= this.sweepAt) {
      for (const t of this.served.keys())
        if (this.deps.fanout.topicSize(t) === 0 && this.deps.resumer.waiting(t) === 0) this.served.delete(t);
      this.sweepAt = Math.max(SWEEP_FROM, 2 * this.served.size);
    }
    return this.deps.resumer.resume(conn, channel, topic, request, confirm);
  }

  /**
   * This node's broker connection came back: events the others published meanwhile did not reach
   * it (the stream has them, the live subscription missed them). Its resuming clients are told
   * the gap (`unavailable`) rather than left with a silent hole; plain clients are unaffected.
   */
  connectionRestored(): void {
    const fanout = this.deps.fanout;
    let told = 0;
    for (const [topic, channel] of this.served) {
      if (fanout.topicSize(topic) === 0) {
        this.served.delete(topic);
      } else {
        fanout.publish(topic, frames.historyGap(channel, 'unavailable'));
        told++;
      }
    }
    if (told > 0)
      this.deps.logger.info('the broker connection came back: clients of channels in the store are told of the gap', {
        channels: told,
      });
  }

  cancel(conn: Connection, topic: string): void {
    this.deps.resumer.cancel(conn, topic);
    this.deps.next.cancel(conn, topic);
  }

  /** One Resumer serves the store's channels and `next`'s: its count covers both. */
  waiting(topic: string): number {
    return this.deps.resumer.waiting(topic);
  }

  private inStore(appId: string, topic: string): boolean {
    return this.deps.channels.handles(appId, topic) && this.deps.channels.configOf(appId)?.store === 'broker';
  }

  private refused(appId: string, topic: string, err: unknown): void {
    this.refusals.count++;
    const now = (this.deps.now ?? Date.now)();
    if (now - this.refusals.loggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.deps.logger.warn('the history store refused an event: the publish is refused (503)', {
      appId,
      channel: parseTopic(topic).channel,
      refused: this.refusals.count,
      err,
    });
    this.refusals = { count: 0, loggedAt: now };
  }
}

/**
 * The store's part in the cluster node: the marks it publishes behind its resume answers, handed
 * to the Resumer (`resumer` null when history/cluster.ts's receiver already does), and the node's
 * broker connection coming back (`streams` null when the store's live copies do not depend on it:
 * JetStream's consumer resumes after the last event it delivered).
 */
export class StoreFeature implements ClusterFeature {
  readonly name = 'history-store';
  constructor(
    private readonly streams: Pick<StoreStreams, 'connectionRestored'> | null,
    private readonly resumer: Pick<Resumer, 'marked'> | null,
  ) {}
  marked(_topic: string, id: string): void {
    this.resumer?.marked(id);
  }
  reconnected(): void {
    this.streams?.connectionRestored();
  }
}
