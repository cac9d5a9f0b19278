/**
 * The resume protocol, on the node where a client resumes. The client's socket is attached to the
 * channel's topic only once the resume completed (history/resume.ts); until then, as a
 * DeliveryObserver of local delivery, this buffers every frame delivered to the topic for it.
 * The channel's owner is asked for what the client missed (`replay_req`; this node itself when it
 * owns the channel: answered at once). A remote answer (`replay`) counts only together with the
 * mark of the same id on the channel's data subject, which proves every later event arrives behind
 * it. No answer after `resumeTimeoutMs` (three attempts): the client is told the gap is unknown.
 *
 * Bounded: clients resuming the same channel from the same position while a request for it is in
 * flight wait for that one answer (one request to the owner, however many clients); a request
 * whose clients all left is dropped (no more attempts); the resumes of one client address (IPv6:
 * its /64) are a token bucket that reconnecting does not refill; topics are remembered for the
 * owner-down notice only while they have local subscribers.
 */
import { randomBytes } from 'node:crypto';
import type { HistoryConfig } from '../config/schema.js';
import type { Connection } from '../core/connection.js';
import type { DeliveryObserver, TopicFanout } from '../core/delivery.js';
import type { Confirm } from '../core/streams.js';
import { parseTopic } from '../core/topics.js';
import type { Logger } from '../log/logger.js';
import * as frames from '../protocol/frames.js';
import { addressGroup } from '../limits/address-group.js';
import type { Refusals } from '../limits/refusals.js';
import { ResumeBudget } from './budget.js';
import type { WsSocket } from '../transport/types.js';
import type { HistoryChannels } from './channels.js';
import type { ChannelStore } from './durable/types.js';
import { formatPosition, parsePosition, type Position } from './position.js';
import { complete, keep, refuse, type Answer, type Pending } from './resume.js';
import type { HistoryPeers } from './types.js';

/** Events buffered for one waiting resume before it gives up on replaying (and says so). */
const MAX_BUFFERED = 1_000;
const ATTEMPTS = 3;
/**
 * Resumes one client address may ask for: 50 a second, 500 at once (budget.ts: a burst of ten
 * seconds; a reconnecting client resumes each of its channels once: up to
 * limits.maxChannelsPerConnection). A client that subscribes and unsubscribes in a loop, on one
 * connection or on new ones, must not make this node (and the owner) build and send the history
 * again and again.
 */
const RESUMES_PER_SECOND = 50;
/** Addresses whose buckets are kept at most. */
const MAX_ADDRESSES = 10_000;

/** One request to the owner, shared by every client resuming `topic` from the same position. */
interface Request {
  key: string;
  id: string;
  topic: string;
  appId: string;
  from: Position | null;
  waiting: Set<Pending>;
  attempt: number;
  marked: boolean;
  answer: Answer | null;
  timer: NodeJS.Timeout | null;
}

export class Resumer implements DeliveryObserver {
  /** Requests in flight by id (answers and marks) and by topic and position (coalescing). */
  private readonly byId = new Map<string, Request>();
  private readonly byKey = new Map<string, Request>();
  private readonly byTopic = new Map<string, Set<Pending>>();
  private readonly requestOf = new Map<Pending, Request>();
  private readonly budget: ResumeBudget;
  /** Topics with history on which this node attached resuming clients (topic → channel). */
  private readonly served = new Map<string, string>();
  /** Topics whose clients were told their stream is lost, and saw no event since (told once). */
  private readonly told = new Set<string>();
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;

  constructor(
    private readonly deps: {
      channels: HistoryChannels;
      /** Answers for the channels this node owns. */
      local: {
        answer(appId: string, topic: string, from: Position | null, id: string): Answer;
        /** Whether this node keeps a stream (its own, or a copy) of `topic`. */
        holds(appId: string, topic: string): boolean;
      };
      /** null on a single node: it owns every stream. */
      peers: HistoryPeers | null;
      /** The broker's streams (apps with `history.store: broker`): their answers come with a mark, as a peer's. */
      store?: Pick<ChannelStore, 'replay'>;
      /** The transport's own fan-out: gap notices when a history node dies. */
      fanout: TopicFanout;
      logger: Logger;
      /** Resumes refused by the per-address budget: counted and logged once per episode of an address. */
      refusals: Pick<Refusals, 'refused'>;
      now?: () => number;
    },
  ) {
    this.budget = new ResumeBudget(deps.now ?? Date.now, MAX_ADDRESSES);
  }

  stop(): void {
    for (const r of this.byId.values()) if (r.timer) clearTimeout(r.timer);
  }

  /** See ChannelStreams.resume (core/streams.ts). */
  resume(conn: Connection, channel: string, topic: string, request: unknown, confirm: Confirm): boolean {
    if (request === undefined || !this.deps.channels.handles(conn.app.id, topic)) return false;
    const from = request === 'new' ? null : parsePosition(request);
    if (from === null && request !== 'new') {
      this.deps.logger.info('refused a malformed resume position', {
        appId: conn.app.id,
        socketId: conn.socketId,
        channel,
      });
      refuse(conn, channel, confirm, 'reset');
      return true;
    }
    if (!this.take(conn)) {
      refuse(conn, channel, confirm, 'unavailable');
      return true;
    }
    // A broker's stream outlives any node: no gap to tell when one goes down.
    if (this.deps.channels.configOf(conn.app.id)?.store !== 'broker') this.served.set(topic, channel);
    const p: Pending = {
      conn,
      channel,
      topic,
      from,
      succeeded: keep(confirm.succeeded),
      confirmed: confirm.confirmed,
      attach: confirm.attach,
      buffer: [],
    };
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(p);
    this.ask(p);
    return true;
  }

  /** The connection left the channel (or closed) while its resume waited; or simply left it. */
  cancel(conn: Connection, topic: string): void {
    const set = this.byTopic.get(topic);
    if (set) for (const p of set) if (p.conn === conn) this.forget(p);
    if (!this.byTopic.has(topic) && this.deps.fanout.topicSize(topic) === 0) this.served.delete(topic);
  }

  // ------------------------------------------------------------------------------------------
  // DeliveryObserver (core/delivery.ts)

  delivered(topic: string, frame: string, except: WsSocket | undefined): void {
    if (this.told.size > 0) this.told.delete(topic);
    if (this.byTopic.size === 0) return;
    const set = this.byTopic.get(topic);
    if (!set) return;
    for (const p of set) {
      if (p.conn.socket === except) continue;
      p.buffer.push(frame);
      if (p.buffer.length > MAX_BUFFERED) {
        this.deps.logger.warn('too many live events while a resume waited: the client is told the gap is unknown', {
          appId: p.conn.app.id,
          socketId: p.conn.socketId,
          channel: p.channel,
        });
        this.finish(p, null, true);
      }
    }
  }

  waiting(topic: string): number {
    return this.byTopic.get(topic)?.size ?? 0;
  }

  // ------------------------------------------------------------------------------------------
  // From the other nodes (history/cluster.ts)

  /** The owner's answer to one attempt; it completes the resume once its mark arrived too. */
  replied(answer: Answer): void {
    const r = this.byId.get(answer.id);
    if (!r) return; // late answer to an attempt given up, or to a request nobody waits for
    r.answer = answer;
    if (r.marked) this.settle(r, answer);
  }

  /** The mark of an answer arrived on the channel's data subject. */
  marked(id: string): void {
    const r = this.byId.get(id);
    if (!r) return;
    r.marked = true;
    if (r.answer) this.settle(r, r.answer);
  }

  /**
   * The node that sequenced some of our channels died: what was sent to it since it was last
   * heard from is lost, and its stream with it unless the next node kept a copy (then the stream
   * goes on in the same epoch). Our clients on the channels whose stream is lost are told now (the
   * next event would also show them a new epoch, but there may be no next event for long).
   */
  nodeDown(nodeId: string): void {
    const peers = this.deps.peers;
    if (!peers) return;
    const fanout = this.deps.fanout;
    let told = 0;
    for (const [topic, channel] of this.served) {
      if (fanout.topicSize(topic) === 0) {
        this.served.delete(topic);
        this.told.delete(topic);
      } else if (peers.wasOwner(nodeId, topic) && !this.continued(nodeId, topic) && !this.told.has(topic)) {
        fanout.publish(topic, frames.historyGap(channel, 'reset'));
        this.told.add(topic);
        told++;
      }
    }
    if (told > 0)
      this.deps.logger.info("the node that kept these channels' history went down: their clients are told", {
        node: nodeId,
        channels: told,
      });
  }

  /** Topics remembered for the owner-down notice (tests, metrics). */
  servedTopics(): number {
    return this.served.size;
  }

  /**
   * Whether the stream of `topic`, whose owner `dead` just went, goes on in the same epoch: the
   * dead node sent copies of its streams, and the new owner keeps them (this node: it has one).
   */
  private continued(dead: string, topic: string): boolean {
    const peers = this.deps.peers as HistoryPeers;
    const owner = peers.ownerOf(topic);
    if (!peers.replicates(dead)) return false;
    return owner === peers.nodeId ? this.deps.local.holds(parseTopic(topic).appId, topic) : peers.replicates(owner);
  }

  // ------------------------------------------------------------------------------------------

  /** Takes one resume from the budget of the connection's address (IPv6: its /64); false (counted, logged per episode) when it has none. */
  private take(conn: Connection): boolean {
    if (this.budget.take(addressGroup(conn.socket.remoteAddress), RESUMES_PER_SECOND)) return true;
    this.deps.refusals.refused(
      'resumes_per_ip',
      conn.socket.remoteAddress,
      'too many resumes from one client address: this one is answered with a gap',
      { appId: conn.app.id, socketId: conn.socketId },
    );
    return false;
  }

  /** Asks the owner (this node itself: answered at once), or joins the same request in flight. */
  private ask(p: Pending): void {
    const store = this.deps.channels.configOf(p.conn.app.id)?.store === 'broker' ? this.deps.store : undefined;
    const peers = this.deps.peers;
    const owner = peers?.ownerOf(p.topic);
    if (!store && (!peers || owner === undefined || owner === peers.nodeId)) {
      this.finish(p, this.deps.local.answer(p.conn.app.id, p.topic, p.from, `${this.idPrefix}.${++this.nextId}`));
      return;
    }
    const key = `${p.topic}\u0000${p.from === null ? '' : formatPosition(p.from)}`;
    let r = this.byKey.get(key);
    if (!r) {
      r = {
        key,
        id: '',
        topic: p.topic,
        appId: p.conn.app.id,
        from: p.from,
        waiting: new Set(),
        attempt: 0,
        marked: false,
        answer: null,
        timer: null,
      };
      this.byKey.set(key, r);
      r.waiting.add(p);
      this.requestOf.set(p, r);
      this.send(r);
      return;
    }
    r.waiting.add(p);
    this.requestOf.set(p, r);
  }

  /**
   * One attempt of a request: to the broker's store (apps with `history.store: broker`; its answer
   * comes with a mark, as a peer's), else to the channel's owner.
   */
  private send(r: Request): void {
    r.attempt++;
    r.marked = false;
    r.answer = null;
    if (r.id !== '') this.byId.delete(r.id);
    r.id = `${this.idPrefix}.${++this.nextId}`;
    const config = this.deps.channels.configOf(r.appId) as HistoryConfig;
    const store = config.store === 'broker' ? this.deps.store : undefined;
    let owner: string;
    if (store) {
      owner = 'the history store';
      this.byId.set(r.id, r);
      store.replay(r.appId, r.topic, r.from, r.id).then(
        (answer) => this.replied(answer),
        (err: unknown) =>
          this.deps.logger.warn('the history store did not answer a resume; retrying', {
            appId: r.appId,
            clients: r.waiting.size,
            err,
          }),
      );
    } else {
      const peers = this.deps.peers as HistoryPeers;
      owner = peers.ownerOf(r.topic);
      if (owner === peers.nodeId) {
        // Ownership moved to this node since the first attempt: answered here, at once.
        this.settle(r, this.deps.local.answer(r.appId, r.topic, r.from, r.id));
        return;
      }
      this.byId.set(r.id, r);
      peers.send(owner, {
        kind: 'replay_req',
        id: r.id,
        topic: r.topic,
        from: r.from === null ? null : formatPosition(r.from),
      });
    }
    r.timer = setTimeout(() => {
      r.timer = null;
      if (r.attempt < ATTEMPTS) return this.send(r);
      this.deps.logger.warn('no answer from the history node: the client is told the gap is unknown', {
        appId: r.appId,
        clients: r.waiting.size,
        node: owner,
      });
      this.settle(r, null);
    }, config.resumeTimeoutMs / ATTEMPTS);
    r.timer.unref();
  }

  /** The request ends: every client waiting on it completes with the same answer. */
  private settle(r: Request, answer: Answer | null): void {
    this.drop(r);
    for (const p of [...r.waiting]) this.finish(p, answer);
  }

  private drop(r: Request): void {
    if (r.timer) clearTimeout(r.timer);
    r.timer = null;
    this.byId.delete(r.id);
    if (this.byKey.get(r.key) === r) this.byKey.delete(r.key);
  }

  private finish(p: Pending, answer: Answer | null, overflow = false): void {
    const attempts = this.requestOf.get(p)?.attempt ?? 0;
    this.forget(p);
    if (p.conn.closed || !p.conn.subscription(p.channel)) return;
    this.deps.logger.debug('resume completed', {
      appId: p.conn.app.id,
      socketId: p.conn.socketId,
      channel: p.channel,
      outcome: answer ? (answer.status === 'gap' ? answer.reason : 'ok') : overflow ? 'overflow' : 'unavailable',
      replayed: answer?.frames.length ?? 0,
      buffered: p.buffer.length,
      attempts,
    });
    complete(p, answer, overflow);
  }

  /** The client no longer waits; a request nobody waits for any more is abandoned (no more attempts). */
  private forget(p: Pending): void {
    const r = this.requestOf.get(p);
    this.requestOf.delete(p);
    if (r) {
      r.waiting.delete(p);
      if (r.waiting.size === 0) this.drop(r);
    }
    const set = this.byTopic.get(p.topic);
    set?.delete(p);
    if (set?.size === 0) this.byTopic.delete(p.topic);
  }
}
