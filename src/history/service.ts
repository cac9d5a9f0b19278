/**
 * Channel history and resume (issue 13), for the channels an app opts in (`apps[].history`).
 *
 * One node sequences each channel's stream: its owner (cluster/membership.ts, the same rendezvous
 * choice as for webhooks; a single node owns everything). Publishes on such a channel go to the
 * owner, which gives the event the next position of the channel's epoch (`wm_pos`), keeps it, and
 * delivers it to its own sockets and to the other nodes. A client resuming on any node asks the
 * owner for what it missed (see resume.ts). When the owner dies, the next owner starts a new epoch:
 * resuming clients are told the gap is unknown (`wiremesh:gap`), live ones see the epoch change.
 */
import { randomBytes } from 'node:crypto';
import type { AppConfig, HistoryConfig } from '../config/schema.js';
import { historyMatcher } from '../config/history.js';
import type { Connection } from '../core/connection.js';
import { parseTopic } from '../core/topics.js';
import type { Logger } from '../log/logger.js';
import * as frames from '../protocol/frames.js';
import type { ClusterInbound, ClusterLink } from '../cluster/types.js';
import type { TopicFanout } from '../core/delivery.js';
import type { WsSocket } from '../transport/types.js';
import { formatPosition, parsePosition, type Position } from './position.js';
import { complete, type Answer, type Pending } from './resume.js';
import { HistoryStore } from './store.js';
import type { HistoryInbound, HistoryLink } from './types.js';
import type { HistoryMessage } from './wire.js';

/** Events buffered for one waiting resume before it gives up on replaying (and says so). */
const MAX_BUFFERED = 1_000;
const ATTEMPTS = 3;
/**
 * Resumes one connection may ask for: a client resumes each channel once per connection; one that
 * subscribes and unsubscribes in a loop must not make this node (and the owner) send it the whole
 * history again and again.
 */
const MAX_RESUMES_PER_CONNECTION = 200;

/** Where a sequenced event goes: this node's sockets (the core) and the other nodes (the link). */
export interface HistoryOutlet {
  local: Pick<ClusterInbound, 'deliver'>;
  link: Pick<ClusterLink, 'forward'>;
}

export class HistoryService implements HistoryInbound {
  readonly store: HistoryStore;
  private readonly configs = new Map<string, HistoryConfig>();
  private readonly matchers = new Map<string, RegExp>();
  private readonly byId = new Map<string, Pending>();
  private readonly byTopic = new Map<string, Set<Pending>>();
  private readonly resumesOf = new WeakMap<Connection, number>();
  /** Topics with history on which this node attached resuming clients (topic → channel). */
  private readonly served = new Map<string, string>();
  /**
   * The transport as the core's local delivery should see it: frames are also offered to waiting
   * resumes, which count as subscribers (so the topic stays watched while they wait).
   */
  readonly fanout: TopicFanout;
  private outlet: HistoryOutlet | null = null;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: {
      apps: readonly AppConfig[];
      /** null on a single node: it owns every stream. */
      link: HistoryLink | null;
      /** The transport's own fan-out (not the wrapped `fanout`): gap notices when a history node dies. */
      transport: TopicFanout;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
    for (const app of deps.apps) {
      if (!app.history) continue;
      this.configs.set(app.id, app.history);
      this.matchers.set(app.id, historyMatcher(app.history.channels));
    }
    this.store = new HistoryStore((appId) => this.configs.get(appId));
    const transport = deps.transport;
    this.fanout = {
      publish: (topic, frame, except) => {
        if (this.byTopic.size > 0) this.observe(topic, frame, except);
        return transport.publish(topic, frame, except);
      },
      topicSize: (topic) => transport.topicSize(topic) + (this.byTopic.get(topic)?.size ?? 0),
    };
  }

  /** Before the cluster link starts (sequence requests from other nodes may follow at once). */
  start(outlet: HistoryOutlet): void {
    this.outlet = outlet;
    const shortest = Math.min(...[...this.configs.values()].map((c) => c.maxAgeMs));
    this.sweepTimer = setInterval(() => this.store.sweep(this.now()), Math.max(1_000, shortest / 4));
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const p of this.byId.values()) if (p.timer) clearTimeout(p.timer);
  }

  /** Whether `topic` keeps history (on every publish: one Map lookup for apps without history). */
  handles(appId: string, topic: string): boolean {
    const m = this.matchers.get(appId);
    return m !== undefined && m.test(parseTopic(topic).channel);
  }

  /** A channel event (built by frames.channelEvent) for a history topic: to be sequenced by the owner. */
  publish(appId: string, topic: string, frame: string, exceptSocketId?: string): void {
    const owner = this.remoteOwner(topic);
    if (owner === null) {
      this.sequence(appId, topic, frame, exceptSocketId);
    } else {
      this.deps.link!.sendHistory(owner, {
        kind: 'seq',
        topic,
        frame,
        ...(exceptSocketId === undefined ? {} : { except: exceptSocketId }),
      });
    }
  }

  /**
   * A subscription on `channel` just succeeded with a resume request (`wm_resume`). Returns true
   * when it takes over attaching the socket to the topic (after the replay); false when the
   * request does not apply and the caller attaches it now.
   */
  resume(conn: Connection, channel: string, topic: string, request: unknown, attach: () => void): boolean {
    if (request === undefined || !this.handles(conn.app.id, topic)) return false;
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
    this.served.set(topic, channel);
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
  // HistoryInbound (from the cluster link)

  historyMessage(from: string, msg: HistoryMessage): void {
    switch (msg.kind) {
      case 'seq': {
        const appId = this.appWithHistory(from, msg.topic, 'asked to sequence a channel without history here');
        if (appId === null) return;
        this.sequence(appId, msg.topic, msg.frame, msg.except);
        return;
      }
      case 'replay_req': {
        const appId = this.appWithHistory(from, msg.topic, 'asked for the history of a channel without history here');
        if (appId === null) return;
        const answer = this.answer(appId, msg.topic, msg.from === null ? null : parsePosition(msg.from), msg.id);
        // The mark first: any event sequenced after this answer is published behind it.
        this.deps.link!.markHistory(msg.topic, msg.id);
        this.deps.link!.sendHistory(from, answer);
        return;
      }
      case 'replay': {
        const p = this.byId.get(msg.id);
        if (!p) return; // late answer to an attempt given up
        p.answer = msg;
        if (p.marked) this.finish(p, msg);
        return;
      }
    }
  }

  /** The app of a peer's request about `topic`, or null (logged) when that channel keeps no history here. */
  private appWithHistory(from: string, topic: string, what: string): string | null {
    const { appId } = parseTopic(topic);
    if (this.handles(appId, topic)) return appId;
    this.deps.logger.warn(`${what}: is the config the same on every node?`, { node: from, appId });
    return null;
  }

  /**
   * The node that sequenced some of our channels died: what was sent to it since it was last
   * heard from is lost, and its stream with it. Our clients on those channels are told now (the
   * next event would also show them a new epoch, but there may be no next event for long).
   */
  nodeDown(replica: string): void {
    const link = this.deps.link;
    if (!link) return;
    const transport = this.deps.transport;
    let told = 0;
    for (const [topic, channel] of this.served) {
      if (transport.topicSize(topic) === 0) {
        this.served.delete(topic);
      } else if (link.wasOwner(replica, topic)) {
        transport.publish(topic, frames.historyGap(channel, 'reset'));
        told++;
      }
    }
    if (told > 0)
      this.deps.logger.info("the node that kept these channels' history went down: their clients are told", {
        node: replica,
        channels: told,
      });
  }

  historyMarked(_topic: string, id: string): void {
    const p = this.byId.get(id);
    if (!p) return;
    p.marked = true;
    if (p.answer) this.finish(p, p.answer);
  }

  // ------------------------------------------------------------------------------------------

  /** null when this node sequences `topic`, else the node that does. */
  private remoteOwner(topic: string): string | null {
    const link = this.deps.link;
    if (!link) return null;
    const owner = link.ownerOf(topic);
    return owner === link.self ? null : owner;
  }

  private sequence(appId: string, topic: string, frame: string, exceptSocketId?: string): void {
    const now = this.now();
    const stream = this.store.open(appId, topic, now);
    const positioned = stream.append(now, (p) => frames.withPosition(frame, formatPosition(p)));
    const outlet = this.outlet;
    if (!outlet) {
      this.deps.logger.warn('dropped an event sequenced before history started', { appId });
      return;
    }
    outlet.local.deliver(topic, positioned, exceptSocketId);
    outlet.link.forward(topic, positioned, exceptSocketId);
  }

  private answer(appId: string, topic: string, from: Position | null, id: string): Answer {
    const now = this.now();
    const stream = this.store.open(appId, topic, now);
    const head = formatPosition(stream.head);
    if (from === null) return { kind: 'replay', id, status: 'ok', head, frames: [] };
    const since = stream.since(from, now);
    if (since.status === 'gap') return { kind: 'replay', id, status: 'gap', reason: since.reason, head, frames: [] };
    return { kind: 'replay', id, status: 'ok', head, frames: since.frames };
  }

  /** One attempt: ask the owner (this node itself: answered at once, nothing is in flight). */
  private ask(p: Pending): void {
    p.attempt++;
    p.marked = false;
    p.answer = null;
    if (p.id !== '') this.byId.delete(p.id);
    p.id = `${this.idPrefix}.${++this.nextId}`;
    const owner = this.remoteOwner(p.topic);
    if (owner === null) {
      this.finish(p, this.answer(p.conn.app.id, p.topic, p.from, p.id));
      return;
    }
    this.byId.set(p.id, p);
    this.deps.link!.sendHistory(owner, {
      kind: 'replay_req',
      id: p.id,
      topic: p.topic,
      from: p.from === null ? null : formatPosition(p.from),
    });
    const config = this.configs.get(p.conn.app.id) as HistoryConfig;
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

  private observe(topic: string, frame: string, except?: WsSocket): void {
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
}
