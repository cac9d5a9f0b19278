/**
 * Shared fragments on one node (docs/fragments.md): pages view a fragment of a channel they are
 * subscribed to; on a trigger (a presence change of the channel anywhere in the cluster, an API
 * refresh, the interval) each node with viewers asks the app's nearest healthy upstream for the
 * HTML once, coalesced (coalescer.ts), and sends it to its own viewers only. A node without
 * viewers of a fragment renders nothing and receives no refreshes for it.
 *
 * Guarantees: a viewer gets the latest HTML this node holds when it subscribes (and a render is
 * started for a fragment nobody viewed here yet); versions delivered on one node only increase;
 * a failed render keeps the last good HTML (logged, counted in `wiremesh_fragment_renders_total`).
 * Viewing a fragment requires a subscription to its channel on the same connection, so a private
 * or presence channel's fragment needs that channel's authorization.
 *
 * Bounds: only the fragments the app lists (`fragments.names`), each on the channels its patterns
 * match; at most `maxActive` fragments per app on a node, of which one client address (IPv6: its
 * /64) may have brought in at most `maxPerAddress` (a fragment counts against the address of the
 * viewer that started it, until it ends), so one client cannot take the node's fragments from
 * everyone else's pages.
 */
import type { ClusterLink } from '../cluster/types.js';
import { channelMatcher } from '../config/channel-patterns.js';
import { FRAGMENT_NAME } from '../config/fragments.js';
import type { AppConfig, FragmentsConfig } from '../config/schema.js';
import type { Connection } from '../core/connection.js';
import type { ExtensionHandler } from '../core/session.js';
import { topicOf } from '../core/topics.js';
import { ErrorCodes, PusherError } from '../errors.js';
import { addressGroup } from '../limits/address-group.js';
import type { Logger } from '../log/logger.js';
import type { Transition } from '../presence/view.js';
import { channelKind, channelNameProblem } from '../protocol/channels.js';
import type { CoalescerClock } from './coalescer.js';
import { decodeRefresh, encodeRefresh, refreshTopic, type RefreshReceiver } from './cluster.js';
import { LiveFragment } from './live.js';
import type { FragmentMetrics } from './metrics.js';
import { renderFragment, RenderError, type Member } from './render.js';
import type { FragmentUpstreams } from './upstream.js';

export const FRAGMENT_EVENTS = ['wiremesh:fragment-subscribe', 'wiremesh:fragment-unsubscribe'] as const;

type FragmentApp = AppConfig & { fragments: FragmentsConfig };

/** What the fragments read of the replicated presence state (the PresenceView). */
export interface PresenceReader {
  members(topic: string): ReadonlyMap<string, unknown>;
  subscriptionCount(topic: string): number;
}

export interface FragmentServiceDeps {
  apps: readonly AppConfig[];
  upstreams: FragmentUpstreams;
  /** This node's replica id: the epoch of the versions it hands out. */
  epoch: string;
  maxChannelNameLength: number;
  metrics: FragmentMetrics;
  logger: Logger;
  /** The replicated presence state (members and counts of a fragment's channel). */
  presence: PresenceReader;
  /** Refresh topics: watched while a fragment has viewers here, forwarded on an API refresh. */
  link: Pick<ClusterLink, 'watch' | 'unwatch' | 'forward'>;
  clock?: CoalescerClock;
  now?: () => number;
}

const key = (appId: string, name: string, channel: string): string => `${appId}\u0000${name}\u0000${channel}`;
const nameKey = (appId: string, name: string): string => `${appId}\u0000${name}`;

export class FragmentService implements ExtensionHandler, RefreshReceiver {
  /** The connection events this part handles (for the core's ExtensionRouter). */
  readonly events = FRAGMENT_EVENTS;
  private readonly apps = new Map<string, FragmentApp>();
  private readonly live = new Map<string, LiveFragment>();
  /** Channel topic → its live fragments (presence triggers). */
  private readonly byTopic = new Map<string, Set<LiveFragment>>();
  /** app \0 name → its live fragments on every channel (refreshes). */
  private readonly byName = new Map<string, Set<LiveFragment>>();
  private readonly byConn = new Map<Connection, Set<LiveFragment>>();
  private readonly perApp = new Map<string, number>();
  /** app \0 name → the channels that fragment may be viewed on. */
  private readonly channelsOf = new Map<string, RegExp>();
  /** app \0 client address group → fragments started by that address and still live. */
  private readonly perAddress = new Map<string, number>();
  /** A live fragment → the app \0 address group it counts against. */
  private readonly startedBy = new Map<LiveFragment, string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly warned = new WeakSet<Connection>();

  constructor(private readonly deps: FragmentServiceDeps) {
    for (const app of deps.apps) {
      if (!app.fragments) continue;
      this.apps.set(app.id, app as FragmentApp);
      for (const [name, patterns] of Object.entries(app.fragments.names))
        this.channelsOf.set(nameKey(app.id, name), channelMatcher(patterns));
    }
    deps.metrics.active.collect((set) => {
      for (const [appId, n] of this.perApp) set({ app: appId }, n);
    });
  }

  /** Starts the apps' periodic re-renders (`fragments.intervalMs`). */
  start(): void {
    for (const app of this.apps.values()) {
      if (app.fragments.intervalMs === 0) continue;
      const t = setInterval(() => this.triggerWhere((f) => f.app.id === app.id), app.fragments.intervalMs);
      t.unref();
      this.timers.push(t);
    }
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
    for (const f of [...this.live.values()]) this.drop(f);
  }

  // ---- the connection side (wiremesh:fragment-*) ----

  handle(conn: Connection, event: string, data: unknown): void {
    const { name, channel } = this.read(conn, event, data);
    if (event === 'wiremesh:fragment-unsubscribe') return this.unsubscribe(conn, name, channel);
    this.subscribe(conn, name, channel);
  }

  closed(conn: Connection): void {
    const mine = this.byConn.get(conn);
    if (!mine) return;
    this.byConn.delete(conn);
    for (const f of mine) this.leave(f, conn);
  }

  private read(conn: Connection, event: string, data: unknown): { name: string; channel: string } {
    const app = this.apps.get(conn.app.id);
    if (!app)
      throw this.refuse(conn, ErrorCodes.INVALID_MESSAGE, `${event}: shared fragments are not enabled for this app`);
    const fields = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
    const { fragment: name, channel } = fields;
    if (typeof name !== 'string' || !FRAGMENT_NAME.test(name)) {
      throw this.refuse(
        conn,
        ErrorCodes.INVALID_MESSAGE,
        `${event}: fragment must be a name of 1–64 characters A-Z a-z 0-9 _ - . :`,
      );
    }
    const channels = this.channelsOf.get(nameKey(app.id, name));
    if (channels === undefined)
      throw this.refuse(conn, ErrorCodes.INVALID_MESSAGE, `${event}: no fragment named ${name}`);
    const problem =
      typeof channel === 'string' ? channelNameProblem(channel, this.deps.maxChannelNameLength) : 'not a string';
    if (problem || typeof channel !== 'string')
      throw this.refuse(conn, ErrorCodes.INVALID_MESSAGE, `${event}: invalid channel: ${problem}`);
    if (!channels.test(channel)) {
      throw this.refuse(
        conn,
        ErrorCodes.INVALID_MESSAGE,
        `${event}: fragment ${name} is not shown on channel ${channel} (not among the app's fragments.names patterns)`,
      );
    }
    return { name, channel };
  }

  private subscribe(conn: Connection, name: string, channel: string): void {
    const app = this.apps.get(conn.app.id)!;
    if (conn.subscription(channel) === undefined) {
      throw this.refuse(
        conn,
        ErrorCodes.UNAUTHORIZED,
        `wiremesh:fragment-subscribe: subscribe to ${channel} first (its authorization covers its fragments)`,
      );
    }
    const k = key(app.id, name, channel);
    let f = this.live.get(k);
    // Already viewing: it has the HTML (sending it again would let one small frame buy a big one).
    if (f?.viewers.has(conn)) return;
    const mine = this.byConn.get(conn);
    // Fragments this connection stopped viewing by leaving their channel.
    if (mine) for (const x of mine) if (!x.viewers.has(conn)) mine.delete(x);
    if ((mine?.size ?? 0) >= app.fragments.maxPerConnection) {
      throw this.refuse(
        conn,
        ErrorCodes.OVER_CAPACITY,
        `wiremesh:fragment-subscribe: at most ${app.fragments.maxPerConnection} fragments per connection`,
      );
    }
    const fresh = f === undefined;
    if (f === undefined) {
      if ((this.perApp.get(app.id) ?? 0) >= app.fragments.maxActive) {
        throw this.refuse(
          conn,
          ErrorCodes.OVER_CAPACITY,
          `wiremesh:fragment-subscribe: this node already serves ${app.fragments.maxActive} fragments of the app`,
        );
      }
      const source = `${app.id}\u0000${addressGroup(conn.socket.remoteAddress)}`;
      if ((this.perAddress.get(source) ?? 0) >= app.fragments.maxPerAddress) {
        throw this.refuse(
          conn,
          ErrorCodes.OVER_CAPACITY,
          `wiremesh:fragment-subscribe: connections from this address already started ${app.fragments.maxPerAddress} fragments on this node`,
        );
      }
      f = this.create(app, name, channel);
      this.perAddress.set(source, (this.perAddress.get(source) ?? 0) + 1);
      this.startedBy.set(f, source);
    }
    f.viewers.add(conn);
    if (mine) mine.add(f);
    else this.byConn.set(conn, new Set([f]));
    if (fresh || (f.html === null && !f.coalescer.busy)) f.coalescer.trigger();
    else this.sendCurrent(conn, f);
  }

  private unsubscribe(conn: Connection, name: string, channel: string): void {
    const f = this.live.get(key(conn.app.id, name, channel));
    const mine = this.byConn.get(conn);
    if (!f || !mine?.delete(f)) return;
    if (mine.size === 0) this.byConn.delete(conn);
    this.leave(f, conn);
  }

  private sendCurrent(conn: Connection, f: LiveFragment): void {
    const frame = f.currentFrame(this.deps.epoch);
    if (frame === null) return;
    conn.socket.send(frame);
    this.deps.metrics.deliveries.inc({ app: f.app.id });
  }

  private refuse(conn: Connection, code: number, message: string): PusherError {
    // One warning per connection; a client repeating refused requests is logged at debug.
    const level = this.warned.has(conn) ? 'debug' : 'warn';
    this.warned.add(conn);
    this.deps.logger[level]('fragment request refused', {
      appId: conn.app.id,
      socketId: conn.socketId,
      client: conn.socket.remoteAddress,
      reason: message,
    });
    return new PusherError(code, message);
  }

  // ---- triggers ----

  /** Presence transitions of this node's view (local and replicated alike). */
  presenceChanged(transitions: readonly Transition[]): void {
    let last: string | undefined;
    for (const t of transitions) {
      if ((t.kind !== 'member_added' && t.kind !== 'member_removed') || t.topic === last) continue;
      last = t.topic;
      const set = this.byTopic.get(t.topic);
      if (set) for (const f of set) this.trigger(f);
    }
  }

  /** An API refresh on this node: render here and on every other node with viewers. */
  refresh(app: AppConfig, name: string, channel: string | undefined): void {
    this.refreshHere(app.id, name, channel);
    this.deps.link.forward(refreshTopic(app.id, name), encodeRefresh(channel));
  }

  refreshFromCluster(appId: string, name: string, frame: string): void {
    let channel: string | undefined;
    try {
      channel = decodeRefresh(frame).channel;
    } catch (err) {
      this.deps.logger.warn('malformed fragment refresh from the cluster; ignored', { appId, fragment: name, err });
      return;
    }
    this.refreshHere(appId, name, channel);
  }

  private refreshHere(appId: string, name: string, channel: string | undefined): void {
    const set = this.byName.get(nameKey(appId, name));
    if (set) for (const f of set) if (channel === undefined || f.channel === channel) this.trigger(f);
  }

  private triggerWhere(pick: (f: LiveFragment) => boolean): void {
    for (const f of [...this.live.values()]) if (pick(f)) this.trigger(f);
  }

  /** No viewers, no render: viewers that left the channel are dropped first. */
  private trigger(f: LiveFragment): void {
    if (f.prune()) f.coalescer.trigger();
    else this.drop(f);
  }

  // ---- rendering ----

  private async render(f: LiveFragment, version: number): Promise<void> {
    const app = f.app;
    const started = performance.now();
    let html: string;
    try {
      const publicUrl = app.livewire?.publicUrl;
      const input = this.input(f);
      html = await renderFragment(
        this.deps.upstreams,
        app,
        app.fragments,
        input,
        this.deps.epoch,
        publicUrl,
        f.abort.signal,
        this.deps.now,
      );
    } catch (err) {
      if (f.abort.signal.aborted) return;
      const reason = err instanceof RenderError ? err.reason : 'failed';
      this.deps.metrics.renders.inc({ app: app.id, outcome: reason });
      // One warning per episode of failures of this fragment; the rest at debug (all are counted).
      const level = f.failing ? 'debug' : 'warn';
      f.failing = true;
      this.deps.logger[level]('fragment render failed; viewers keep the last HTML', {
        appId: app.id,
        fragment: f.name,
        channel: f.channel,
        reason,
        err,
      });
      return;
    }
    this.deps.metrics.renders.inc({ app: app.id, outcome: 'ok' });
    if (f.failing) {
      f.failing = false;
      this.deps.logger.info('fragment render recovered', { appId: app.id, fragment: f.name, channel: f.channel });
    }
    this.deps.metrics.renderDuration.observe({ app: app.id }, (performance.now() - started) / 1000);
    if (f.abort.signal.aborted) return;
    const sent = f.accept(version, html, this.deps.epoch);
    if (sent > 0) this.deps.metrics.deliveries.inc({ app: app.id }, sent);
    if (f.viewers.size === 0) this.drop(f);
  }

  private input(f: LiveFragment) {
    // Only a presence channel has members: other channels' subscriptions are keyed by socket id.
    const members: Member[] = [];
    if (channelKind(f.channel) === 'presence')
      for (const [id, info] of this.deps.presence.members(f.topic))
        members.push({ user_id: id, user_info: info ?? null });
    return {
      fragment: f.name,
      channel: f.channel,
      members,
      subscriptionCount: this.deps.presence.subscriptionCount(f.topic),
    };
  }

  // ---- bookkeeping ----

  private create(app: FragmentApp, name: string, channel: string): LiveFragment {
    const topic = topicOf(app.id, channel);
    const onError = (err: unknown): void =>
      this.deps.logger.error('fragment render crashed', { appId: app.id, fragment: name, err });
    const f = new LiveFragment(app, name, channel, topic, (x, v) => this.render(x, v), onError, this.deps.clock);
    this.live.set(key(app.id, name, channel), f);
    add(this.byTopic, topic, f);
    if (add(this.byName, nameKey(app.id, name), f)) this.deps.link.watch(refreshTopic(app.id, name));
    this.perApp.set(app.id, (this.perApp.get(app.id) ?? 0) + 1);
    return f;
  }

  private leave(f: LiveFragment, conn: Connection): void {
    f.viewers.delete(conn);
    if (!f.prune()) this.drop(f);
  }

  private drop(f: LiveFragment): void {
    const k = key(f.app.id, f.name, f.channel);
    if (this.live.get(k) !== f) return;
    f.stop();
    this.live.delete(k);
    remove(this.byTopic, f.topic, f);
    if (remove(this.byName, nameKey(f.app.id, f.name), f)) this.deps.link.unwatch(refreshTopic(f.app.id, f.name));
    for (const conn of f.viewers) {
      const mine = this.byConn.get(conn);
      if (mine?.delete(f) && mine.size === 0) this.byConn.delete(conn);
    }
    f.viewers.clear();
    decrement(this.perApp, f.app.id);
    const source = this.startedBy.get(f);
    if (source !== undefined) {
      this.startedBy.delete(f);
      decrement(this.perAddress, source);
    }
  }
}

function decrement<K>(map: Map<K, number>, k: K): void {
  const n = (map.get(k) ?? 1) - 1;
  if (n > 0) map.set(k, n);
  else map.delete(k);
}

/** Adds to a set in a map; true when the set is new. */
function add<K, V>(map: Map<K, Set<V>>, k: K, v: V): boolean {
  const set = map.get(k);
  if (set) {
    set.add(v);
    return false;
  }
  map.set(k, new Set([v]));
  return true;
}

/** Removes from a set in a map; true when the set became empty (and was removed). */
function remove<K, V>(map: Map<K, Set<V>>, k: K, v: V): boolean {
  const set = map.get(k);
  if (!set) return false;
  set.delete(v);
  if (set.size > 0) return false;
  map.delete(k);
  return true;
}
