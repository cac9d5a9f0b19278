/** Narrow interfaces the core offers to the HTTP API (never the whole core). */
import type { AppConfig } from '../config/schema.js';

export interface ChannelSnapshot {
  occupied: boolean;
  subscriptionCount: number;
  userCount?: number;
}

/** Reads of cluster-wide channel state, answered from state this node already holds. */
export interface ChannelQueries {
  channels(appId: string, prefix: string): Array<{ name: string; subscriptionCount: number; userCount: number }>;
  channel(appId: string, channel: string): ChannelSnapshot;
  users(appId: string, channel: string): string[];
}

/** Publishing and user control through the HTTP API. */
export interface EventPublisher {
  /**
   * Publishes one event to one channel on every node; `data` is sent exactly as given. A promise
   * when the channel's stream keeps the event in a store first (core/streams.ts): rejected when
   * it was not kept.
   */
  publish(app: AppConfig, channel: string, event: string, data: unknown, exceptSocketId?: string): void | Promise<void>;
  terminateUser(app: AppConfig, userId: string): void;
}
