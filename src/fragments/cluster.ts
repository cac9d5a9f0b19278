/**
 * An API refresh of a fragment reaches every node that has viewers of it: each such node watches
 * the fragment's refresh topic on the cluster link (`appId \0 #fragment:name`, a name no client
 * channel can have) while it has viewers, and the node that got the API call forwards a small
 * versioned envelope on it. Nodes without viewers receive nothing.
 */
import type { ChannelReceiver } from '../cluster/types.js';
import { parseTopic, topicOf } from '../core/topics.js';

const PREFIX = '#fragment:';

export function refreshTopic(appId: string, fragment: string): string {
  return topicOf(appId, PREFIX + fragment);
}

/** The app and fragment name of a refresh topic; null for any other topic. */
export function parseRefreshTopic(topic: string): { appId: string; fragment: string } | null {
  const { appId, channel } = parseTopic(topic);
  return channel.startsWith(PREFIX) ? { appId, fragment: channel.slice(PREFIX.length) } : null;
}

interface RefreshEnvelope {
  v: 1;
  type: 'fragment_refresh';
  /** Only this channel's fragment; absent: the fragment on every channel. */
  channel?: string;
}

export function encodeRefresh(channel: string | undefined): string {
  const env: RefreshEnvelope = { v: 1, type: 'fragment_refresh', ...(channel === undefined ? {} : { channel }) };
  return JSON.stringify(env);
}

/** @throws TypeError for anything but a v1 refresh envelope. */
export function decodeRefresh(frame: string): { channel: string | undefined } {
  const env = JSON.parse(frame) as Partial<RefreshEnvelope> | null;
  if (env === null || typeof env !== 'object' || env.v !== 1 || env.type !== 'fragment_refresh') {
    throw new TypeError('not a v1 fragment_refresh envelope');
  }
  if (env.channel !== undefined && typeof env.channel !== 'string')
    throw new TypeError('fragment_refresh: channel must be a string');
  return { channel: env.channel };
}

export interface RefreshReceiver {
  refreshFromCluster(appId: string, fragment: string, frame: string): void;
}

/** Channel frames from other nodes, with refresh topics taken out for the fragments (core/cluster.ts). */
export function withFragmentRefreshes(inbound: ChannelReceiver, fragments: RefreshReceiver): ChannelReceiver {
  return {
    deliver: (topic, frame, exceptSocketId) => {
      const refresh = parseRefreshTopic(topic);
      if (refresh) fragments.refreshFromCluster(refresh.appId, refresh.fragment, frame);
      else inbound.deliver(topic, frame, exceptSocketId);
    },
  };
}
