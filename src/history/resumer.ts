/**
 * The resume protocol, on the node where a client resumes. The client's socket is attached to the
 * channel's topic only once the resume completed (history/resume.ts); until then, as a
 * DeliveryObserver of local delivery, this buffers every frame delivered to the topic for it.
 * The channel's owner is asked for what the client missed (`replay_req`; this node itself when it
 * owns the channel: answered at once). A remote answer (`replay`) counts only together with the
 * mark of the same id on the channel's data subject, which proves every later event arrives behind
 * it. No answer after `resumeTimeoutMs` (three attempts): the client is told the gap is unknown.
 */
import { randomBytes } from 'node:crypto';
import type { HistoryConfig } from '../config/schema.js';
import type { Connection } from '../core/connection.js';
import type { DeliveryObserver, TopicFanout } from '../core/delivery.js';
import type { Logger } from '../log/logger.js';
import * as frames from '../protocol/frames.js';
import type { WsSocket } from '../transport/types.js';
import type { HistoryChannels } from './channels.js';
import type { ChannelStore } from './durable/types.js';
import { formatPosition, parsePosition, type Position } from './position.js';
import { complete, type Answer, type Pending } from './resume.js';
import type { HistoryPeers } from './types.js';

/** Events buffered for one waiting resume before it gives up on replaying (and says so). */
const MAX_BUFFERED = 1_000;
const ATTEMPTS = 3;
/**
 * Resumes one connection may ask for: a client resumes each channel once per connection; one that
 * subscribes and unsubscribes in a loop must not make this node (and the owner) send it the whole
 * history again and again.
 */
const MAX_RESUMES_PER_CONNECTION = 200;

export class Resumer implements DeliveryObserver {
  private readonly byId = new Map<string, Pending>();
  private readonly byTopic = new Map<string, Set<Pending>>();
  private readonly resumesOf = new WeakMap<Connection, number>();
  /** Topics with history on which this node attached resuming clients (topic → channel). */
  private readonly served = new Map<string, string>();
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;

  constructor(
    private readonly deps: {
      channels: HistoryChannels;
      /** Answers for the channels this node owns. */
      local: { answer(appId: string, topic: string, from: Position | null, id: string): Answer };
      /** null on a single node: it owns every stream. */
      peers: HistoryPeers | null;
      /** The broker's streams (apps with `history.store: broker`): their answers come with a mark, as a peer's. */
      store?: Pick<ChannelStore, 'replay'>;
      /** The transport's own fan-out: gap notices when a history node dies. */
      fanout: TopicFanout;
      logger: Logger;
    },
  ) {}

  stop(): void {
    for (const p of this.byId.values()) if (p.timer) clearTimeout(p.timer);
  }

  /** See ChannelStreams.resume (core/streams.ts). */
  resume(conn: Connection, channel: string, topic: string, request: unknown, attach: () => void): boolean {
    if (request === undefined || !this.deps.channels.handles(conn.app.id, topic)) return false;
    const from = request === 'new' ? null : parsePosition(request);
    if (from === null && request !== 'new') {
      this.deps.logger.info('refused a malformed resume position', {
        appId: conn.app.id,
        socketId: conn.socketId,
        channel,
      });
      conn.socket.send(frames.historyGap(channel, 'reset'));
      return false;
    }
    const used = (this.resumesOf.get(conn) ?? 0) + 1;
    this.resumesOf.set(conn, used);
    if (used > MAX_RESUMES_PER_CONNECTION) {
      if (used === MAX_RESUMES_PER_CONNECTION + 1) {
        this.deps.logger.warn('too many resumes on one connection: later ones are answered with a gap', {
          appId: conn.app.id,
          socketId: conn.socketId,
        });
      }
      conn.socket.send(frames.historyGap(channel, 'unavailable'));
      return false;
    }
    // A broker's stream outlives any node: no gap to tell when one goes down.
    if (this.deps.channels.configOf(conn.app.id)?.store !== 'broker') this.served.set(topic, channel);
    const p: Pending = {
      id: '',
      conn,
      channel,
      topic,
      from,
      attach,
      buffer: [],
      attempt: 0,
      marked: false,
      answer: null,
      timer: null,
    };
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(p);
    this.ask(p);
    return true;
  }

  /** The connection left the channel (or closed) while its resume waited. */
  cancel(conn: Connection, topic: string): void {
    const set = this.byTopic.get(topic);
    if (!set) return;
    for (const p of set) if (p.conn === conn) this.forget(p);
  }

  // ------------------------------------------------------------------------------------------
  // DeliveryObserver (core/delivery.ts)

  delivered(topic: string, frame: string, except: WsSocket | undefined): void {
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
    const p = this.byId.get(answer.id);
    if (!p) return; // late answer to an attempt given up
    p.answer = answer;
    if (p.marked) this.finish(p, answer);
  }

  /** The mark of an answer arrived on the channel's data subject. */
  marked(id: string): void {
    const p = this.byId.get(id);
    if (!p) return;
    p.marked = true;
    if (p.answer) this.finish(p, p.answer);
  }

  /**
   * The node that sequenced some of our channels died: what was sent to it since it was last
   * heard from is lost, and its stream with it. Our clients on those channels are told now (the
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
      } else if (peers.wasOwner(nodeId, topic)) {
        fanout.publish(topic, frames.historyGap(channel, 'reset'));
        told++;
      }
    }
    if (told > 0)
      this.deps.logger.info("the node that kept these channels' history went down: their clients are told", {
        node: nodeId,
        channels: told,
      });
  }

  // ------------------------------------------------------------------------------------------

  /** One attempt: ask the owner (this node itself: answered at once, nothing is in flight). */
  private ask(p: Pending): void {
    p.attempt++;
    p.marked = false;
    p.answer = null;
    if (p.id !== '') this.byId.delete(p.id);
    p.id = `${this.idPrefix}.${++this.nextId}`;
    const config = this.deps.channels.configOf(p.conn.app.id) as HistoryConfig;
    const peers = this.deps.peers;
    const store = config.store === 'broker' ? this.deps.store : undefined;
    const owner = store ? 'the history store' : peers?.ownerOf(p.topic);
    if (store) {
      this.byId.set(p.id, p);
      const id = p.id;
      store.replay(p.conn.app.id, p.topic, p.from, id).then(
        (answer) => this.replied(answer),
        (err: unknown) =>
          this.deps.logger.warn('the history store did not answer a resume; retrying', {
            appId: p.conn.app.id,
            socketId: p.conn.socketId,
            channel: p.channel,
            err,
          }),
      );
    } else if (!peers || owner === undefined || owner === peers.nodeId) {
      this.finish(p, this.deps.local.answer(p.conn.app.id, p.topic, p.from, p.id));
      return;
    } else {
      this.byId.set(p.id, p);
      peers.send(owner, {
        kind: 'replay_req',
        id: p.id,
        topic: p.topic,
        from: p.from === null ? null : formatPosition(p.from),
      });
    }
    p.timer = setTimeout(() => {
      p.timer = null;
      if (p.attempt < ATTEMPTS) return this.ask(p);
      this.deps.logger.warn('no answer from the history node: the client is told the gap is unknown', {
        appId: p.conn.app.id,
        socketId: p.conn.socketId,
        channel: p.channel,
        node: owner,
      });
      this.finish(p, null);
    }, config.resumeTimeoutMs / ATTEMPTS);
    p.timer.unref();
  }

  private finish(p: Pending, answer: Answer | null, overflow = false): void {
    this.forget(p);
    if (p.conn.closed || !p.conn.subscription(p.channel)) return;
    this.deps.logger.debug('resume completed', {
      appId: p.conn.app.id,
      socketId: p.conn.socketId,
      channel: p.channel,
      outcome: answer ? (answer.status === 'gap' ? answer.reason : 'ok') : overflow ? 'overflow' : 'unavailable',
      replayed: answer?.frames.length ?? 0,
      buffered: p.buffer.length,
      attempts: p.attempt,
    });
    complete(p, answer, overflow);
  }

  private forget(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    this.byId.delete(p.id);
    const set = this.byTopic.get(p.topic);
    set?.delete(p);
    if (set?.size === 0) this.byTopic.delete(p.topic);
  }
}
