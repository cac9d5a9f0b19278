/**
 * Turns the transitions decided by the presence state into what the outside world sees:
 * member_added / member_removed frames to this node's subscribers, watchlist online/offline
 * events, and webhooks (sent only by the node that owns the topic, so once per cluster).
 * Used for local joins/leaves and for changes merged from other nodes alike.
 */
import type { AppConfig } from '../config/schema.js';
import type { TransitionSink } from '../presence/service.js';
import type { Transition } from '../presence/view.js';
import type { TopicOwnership } from '../cluster/types.js';
import type { WebhookEvent } from '../webhooks/types.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import * as frames from '../protocol/frames.js';
import { channelKind, type ChannelKind } from '../protocol/channels.js';
import { parseTopic, topicOf } from './topics.js';
import type { LocalDelivery } from './delivery.js';
import type { Watchlists } from './watchlist.js';
import { UserPresence } from './user-presence.js';

export interface WebhookSink {
  emit(app: AppConfig, event: WebhookEvent): void;
  wants(app: AppConfig, name: WebhookEvent['name']): boolean;
}

interface TopicContext {
  topic: string;
  appId: string;
  channel: string;
  app: AppConfig;
  kind: ChannelKind;
  /** This node sends the topic's webhooks. */
  owner: boolean;
}

export class TransitionEffects implements TransitionSink {
  private readonly users = new UserPresence();
  constructor(
    private readonly deps: {
      delivery: Pick<LocalDelivery, 'toTopic'>;
      ownership: TopicOwnership;
      webhooks: WebhookSink;
      watchlists: Watchlists;
      appById: (id: string) => AppConfig | undefined;
      metrics: Pick<ServerMetrics, 'channels'>;
    },
  ) {}

  apply(transitions: Transition[]): void {
    // A call's transitions come grouped by topic: look each topic up once.
    let at: TopicContext | null = null;
    for (const t of transitions) {
      if (at === null || at.topic !== t.topic) at = this.context(t.topic);
      if (at !== null) this.one(t, at);
    }
  }

  private context(topic: string): TopicContext | null {
    const { appId, channel } = parseTopic(topic);
    const app = this.deps.appById(appId);
    if (!app) return null;
    return {
      topic,
      appId,
      channel,
      app,
      kind: channelKind(channel),
      owner: channel !== '#users' && this.deps.ownership.ownsTopic(topic),
    };
  }

  private one(t: Transition, { appId, channel, app, kind, owner }: TopicContext): void {
    if (channel === '#users') {
      if (t.kind === 'member_added') this.watch(app, t.key, 'online');
      else if (t.kind === 'member_removed') this.watch(app, t.key, 'offline');
      return;
    }
    switch (t.kind) {
      case 'occupied':
        this.deps.metrics.channels.inc({ app: appId });
        if (owner) this.deps.webhooks.emit(app, { name: 'channel_occupied', channel });
        return;
      case 'vacated':
        this.deps.metrics.channels.dec({ app: appId });
        if (owner) this.deps.webhooks.emit(app, { name: 'channel_vacated', channel });
        return;
      case 'member_added':
        if (kind !== 'presence') return;
        this.deps.delivery.toTopic(appId, t.topic, frames.memberAdded(channel, t.key, t.meta));
        if (owner) this.deps.webhooks.emit(app, { name: 'member_added', channel, user_id: t.key });
        if (this.users.added(appId, t.key)) this.userWebhook(app, 'user_online', t.key);
        return;
      case 'member_removed':
        if (kind !== 'presence') return;
        this.deps.delivery.toTopic(appId, t.topic, frames.memberRemoved(channel, t.key));
        if (owner) this.deps.webhooks.emit(app, { name: 'member_removed', channel, user_id: t.key });
        if (this.users.removed(appId, t.key)) this.userWebhook(app, 'user_offline', t.key);
        return;
      case 'count':
        if (owner && kind !== 'presence' && this.deps.webhooks.wants(app, 'subscription_count')) {
          this.deps.webhooks.emit(app, { name: 'subscription_count', channel, subscription_count: t.count });
        }
        return;
    }
  }

  /** user_online / user_offline: once per cluster, from the node owning the user's topic. */
  private userWebhook(app: AppConfig, name: 'user_online' | 'user_offline', userId: string): void {
    if (this.deps.webhooks.wants(app, name) && this.deps.ownership.ownsTopic(topicOf(app.id, `#user:${userId}`))) {
      this.deps.webhooks.emit(app, { name, user_id: userId });
    }
  }

  private watch(app: AppConfig, userId: string, name: 'online' | 'offline'): void {
    let frame: string | undefined;
    for (const conn of this.deps.watchlists.watchersOf(app.id, userId)) {
      frame ??= frames.watchlistEvents([{ name, user_ids: [userId] }]);
      conn.socket.send(frame);
    }
  }
}
