/**
 * Subscribing and unsubscribing a connection: authorization, presence member data and limits,
 * the join/leave in the presence state, the transitions it decides, cache replay.
 */
import type { ClusterLink } from '../cluster/types.js';
import { ErrorCodes, PusherError } from '../errors.js';
import {
  type ChannelKind,
  channelKind,
  channelNameProblem,
  isCacheChannel,
  needsAuth,
  serverToUserChannel,
} from '../protocol/channels.js';
import * as frames from '../protocol/frames.js';
import { verifyChannelAuth } from '../protocol/signature.js';
import type { ChannelCache } from './cache.js';
import type { Connection, Subscription } from './connection.js';
import type { WebhookSink } from './effects.js';
import { addressGroup } from '../limits/address-group.js';
import type { Refusals } from '../limits/refusals.js';
import type { PresenceService } from '../presence/service.js';
import type { ChannelStreams } from './streams.js';
import { topicOf } from './topics.js';
import { PresenceLists } from './presence-list.js';
import type { TextFrame } from '../transport/types.js';

export interface TopicSizes {
  topicSize(topic: string): number;
}

const refuse = (code: number | null, message: string, status = 401): PusherError =>
  new PusherError(code, message, { status });

interface Member {
  userId: string;
  userInfo: unknown;
}

export class Subscriptions {
  /**
   * One Subscription per topic with local subscribers, shared by every connection on a public or
   * private channel (it is immutable): thousands of sockets on one channel hold one pair of name
   * strings, not one each. Dropped when the last local subscriber leaves.
   */
  private readonly shared = new Map<string, Subscription>();
  private readonly lists = new PresenceLists();
  /** Client address group → subscriptions its connections hold on this node (only with a limit). */
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly deps: {
      presence: PresenceService;
      link: Pick<ClusterLink, 'watch' | 'unwatch'>;
      sizes: TopicSizes;
      cache: ChannelCache;
      webhooks: WebhookSink;
      refusals: Refusals;
      maxChannelNameLength: number;
      /** 0 = no limit. */
      maxChannelsPerConnection: number;
      /** Subscriptions of all connections from one address (IPv6: /64). 0 = no limit. */
      maxSubscriptionsPerIp: number;
      /** Resumes that replay missed events before attaching the socket (channels that keep a stream). */
      streams: Pick<ChannelStreams, 'resume' | 'cancel' | 'waiting'>;
    },
  ) {}

  /** Subscribes `conn` to `channel`; refusals are thrown as PusherError for the caller to frame. */
  subscribe(conn: Connection, channel: string, auth: unknown, channelData: unknown, resume?: unknown): void {
    const problem = channelNameProblem(channel, this.deps.maxChannelNameLength);
    if (problem) throw refuse(ErrorCodes.INVALID_MESSAGE, `Invalid channel name: ${problem}`, 400);
    const kind = channelKind(channel);
    const topic = topicOf(conn.app.id, channel);
    const existing = conn.subscription(channel);
    if (existing) {
      conn.socket.send(this.succeeded(channel, kind, topic));
      return;
    }
    const max = this.deps.maxChannelsPerConnection;
    if (max > 0 && conn.subscriptionCount() >= max) {
      this.deps.refusals.refused(
        'channels_per_connection',
        conn.socket.remoteAddress,
        'refused a subscription: too many channels on one connection',
        {
          appId: conn.app.id,
          socketId: conn.socketId,
          max,
        },
      );
      throw refuse(ErrorCodes.OVER_CAPACITY, `Too many channels: at most ${max} per connection`, 403);
    }
    const perIp = this.deps.maxSubscriptionsPerIp;
    const group = perIp > 0 ? addressGroup(conn.socket.remoteAddress) : '';
    if (perIp > 0 && (this.perAddress.get(group) ?? 0) >= perIp) {
      this.deps.refusals.refused(
        'subscriptions_per_ip',
        conn.socket.remoteAddress,
        'refused a subscription: too many subscriptions from one address',
        { appId: conn.app.id, socketId: conn.socketId, max: perIp },
      );
      throw refuse(ErrorCodes.OVER_CAPACITY, `Too many subscriptions: at most ${perIp} per client address`, 403);
    }
    if (needsAuth(kind)) {
      const data = kind === 'presence' ? (typeof channelData === 'string' ? channelData : '') : undefined;
      if (typeof auth !== 'string' || !verifyChannelAuth(conn.app, auth, conn.socketId, channel, data)) {
        throw refuse(ErrorCodes.UNAUTHORIZED, `Invalid signature: the auth for ${channel} does not match this socket`);
      }
    }
    if (kind === 'server-to-user' && (!conn.user || serverToUserChannel(conn.user.id) !== channel)) {
      throw refuse(ErrorCodes.UNAUTHORIZED, 'Only the signed-in user may subscribe to its own #server-to-user channel');
    }

    let key = conn.socketId;
    let meta: unknown;
    if (kind === 'presence') {
      const member = this.member(conn, topic, channelData);
      key = member.userId;
      meta = member.userInfo;
    }
    let shared = this.shared.get(topic);
    if (shared === undefined) this.shared.set(topic, (shared = { channel, topic }));
    if (this.unwatched(topic)) this.deps.link.watch(shared.topic);
    this.deps.presence.join(shared.topic, key, conn.socketId, meta);
    conn.addSubscription(kind === 'presence' ? { channel: shared.channel, topic: shared.topic, userId: key } : shared);
    if (perIp > 0) this.perAddress.set(group, (this.perAddress.get(group) ?? 0) + 1);
    const succeeded = this.succeeded(channel, kind, topic);
    const confirmed = (): void => {
      if (isCacheChannel(channel)) this.replayCache(conn, channel, topic);
    };
    const attach = (): void => conn.socket.subscribe(shared.topic);
    if (!this.deps.streams.resume(conn, channel, topic, resume, { succeeded, confirmed, attach })) {
      conn.socket.send(succeeded);
      confirmed();
      attach();
    }
  }

  unsubscribe(conn: Connection, channel: string): void {
    const sub = conn.removeSubscription(channel);
    if (!sub) return;
    conn.socket.unsubscribe(sub.topic);
    this.leave(conn, sub.topic);
  }

  /** On disconnect: the transport already dropped the socket from its topics. */
  leaveAll(conn: Connection): void {
    for (const sub of conn.takeSubscriptions()) this.leave(conn, sub.topic);
  }

  /**
   * No local subscriber on `topic`: no attached socket, and none whose resume still waits (its
   * socket attaches later, and must find the node still watching the topic).
   */
  private unwatched(topic: string): boolean {
    return this.deps.sizes.topicSize(topic) === 0 && this.deps.streams.waiting(topic) === 0;
  }

  private leave(conn: Connection, topic: string): void {
    if (this.deps.maxSubscriptionsPerIp > 0) {
      const group = addressGroup(conn.socket.remoteAddress);
      const n = (this.perAddress.get(group) ?? 1) - 1;
      if (n > 0) this.perAddress.set(group, n);
      else this.perAddress.delete(group);
    }
    this.deps.streams.cancel(conn, topic);
    this.deps.presence.leave(topic, conn.socketId);
    if (this.unwatched(topic)) {
      this.deps.link.unwatch(topic);
      this.shared.delete(topic);
      this.lists.forget(topic);
    }
  }

  private member(conn: Connection, topic: string, channelData: unknown): Member {
    if (typeof channelData !== 'string')
      throw refuse(ErrorCodes.INVALID_MESSAGE, 'Presence channels need channel_data', 400);
    let parsed: unknown;
    try {
      parsed = JSON.parse(channelData);
    } catch (err) {
      throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'channel_data is not valid JSON', { status: 400, cause: err });
    }
    const { user_id, user_info } = (parsed ?? {}) as Record<string, unknown>;
    if ((typeof user_id !== 'string' || user_id === '') && typeof user_id !== 'number') {
      throw refuse(ErrorCodes.INVALID_MESSAGE, 'channel_data must contain a user_id', 400);
    }
    const userId = String(user_id);
    let infoSize: number;
    try {
      infoSize = user_info === undefined ? 0 : Buffer.byteLength(JSON.stringify(user_info));
    } catch (err) {
      throw new PusherError(ErrorCodes.INVALID_MESSAGE, 'Presence user_info is nested too deeply', {
        status: 400,
        cause: err,
      });
    }
    if (infoSize > conn.app.maxPresenceMemberSizeBytes) {
      throw refuse(
        ErrorCodes.INVALID_MESSAGE,
        `Presence user_info is ${infoSize} bytes, more than the ${conn.app.maxPresenceMemberSizeBytes} allowed`,
        413,
      );
    }
    const view = this.deps.presence.view;
    if (view.userCount(topic) >= conn.app.maxPresenceMembers && !view.hasMember(topic, userId)) {
      throw refuse(
        ErrorCodes.OVER_CAPACITY,
        `Presence channel is full: at most ${conn.app.maxPresenceMembers} members`,
        403,
      );
    }
    return { userId, userInfo: user_info };
  }

  /** `pusher_internal:subscription_succeeded`; on a presence channel with its member list. */
  private succeeded(channel: string, kind: ChannelKind, topic: string): TextFrame {
    if (kind !== 'presence') return frames.subscriptionSucceeded(channel);
    return this.lists.frame(channel, topic, this.deps.presence.view.members(topic));
  }

  private replayCache(conn: Connection, channel: string, topic: string): void {
    const cached = this.deps.cache.get(topic);
    if (cached !== undefined) {
      conn.socket.send(cached);
      return;
    }
    conn.socket.send(frames.cacheMiss(channel));
    if (this.deps.webhooks.wants(conn.app, 'cache_miss'))
      this.deps.webhooks.emit(conn.app, { name: 'cache_miss', channel });
  }
}
