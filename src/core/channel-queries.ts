/**
 * The HTTP API's channel reads (cluster-wide), answered from the replicated state this node holds:
 * no request to other nodes on the read path.
 */
import { channelKind } from '../protocol/channels.js';
import type { PresenceView } from '../presence/view.js';
import { parseTopic, topicOf } from './topics.js';
import type { ChannelQueries, ChannelSnapshot } from './types.js';

export class PresenceQueries implements ChannelQueries {
  constructor(private readonly view: PresenceView) {}

  channels(appId: string, prefix: string) {
    const out: Array<{ name: string; subscriptionCount: number; userCount: number }> = [];
    const view = this.view;
    for (const topic of view.topics()) {
      const { appId: a, channel } = parseTopic(topic);
      if (a !== appId || channel.startsWith('#') || !channel.startsWith(prefix)) continue;
      out.push({ name: channel, subscriptionCount: view.subscriptionCount(topic), userCount: view.userCount(topic) });
    }
    return out;
  }

  channel(appId: string, channel: string): ChannelSnapshot {
    const topic = topicOf(appId, channel);
    const subscriptionCount = this.view.subscriptionCount(topic);
    const snap: ChannelSnapshot = { occupied: subscriptionCount > 0, subscriptionCount };
    if (channelKind(channel) === 'presence') snap.userCount = this.view.userCount(topic);
    return snap;
  }

  users(appId: string, channel: string): string[] {
    return [...this.view.members(topicOf(appId, channel)).keys()];
  }
}
