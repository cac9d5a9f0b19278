/**
 * The one seam between the single-node core and clustering. The core always delivers to its own
 * sockets; a `ClusterLink` only carries things to *other* nodes. The single-node default
 * (`SoloLink`) carries nothing. Backends (Redis, NATS, in-memory) sit below the link and know
 * nothing of Pusher (see cluster/backends/types.ts).
 */
import type { Change } from '../presence/state.js';

/** What the core asks of the rest of the cluster. All sends are fire-and-forget, at most once. */
export interface ClusterLink {
  /** The node now has its first local subscriber on `topic`: start receiving its traffic. */
  watch(topic: string): void;
  /** The last local subscriber of `topic` left: stop receiving its traffic. */
  unwatch(topic: string): void;
  /** Carry a serialized channel frame to the other nodes serving `topic`. */
  forward(topic: string, frame: string, exceptSocketId?: string): void;
  /** A cache channel's last event changed: every node keeps it, serving the channel or not. */
  cache(topic: string, frame: string): void;
  /** Carry a command for a user's sockets to every other node. */
  userCommand(appId: string, userId: string, command: UserCommand): void;
  /** True if this node is the one that sends cluster-wide webhooks for `topic`. */
  ownsTopic(topic: string): boolean;
  /** Connections of an app on the other live nodes, as last reported by their heartbeats. */
  remoteConnections(appId: string): number;
  /**
   * True when other nodes keep this node's presence entries for a hand-off period after it leaves
   * gracefully, so clients reconnecting elsewhere cause no leave/rejoin. The core then does not
   * record leaves for sockets it closes while draining.
   */
  readonly handsOffPresence: boolean;
  start(): Promise<void>;
  /** Graceful leave (after draining): tell the others, stop. */
  stop(): Promise<void>;
}

export type UserCommand = { type: 'terminate' };

/** What a link delivers into the core. Implemented once by the core, registered with the link. */
export interface ClusterInbound {
  deliver(topic: string, frame: string, exceptSocketId?: string): void;
  cacheStored(topic: string, frame: string): void;
  userCommand(appId: string, userId: string, command: UserCommand): void;
  /** Presence/subscription changes merged from other nodes (already applied to the tracker state). */
  presenceChanged(changes: Change[]): void;
}

export class SoloLink implements ClusterLink {
  readonly handsOffPresence = false;
  watch(): void {}
  unwatch(): void {}
  forward(): void {}
  cache(): void {}
  userCommand(): void {}
  ownsTopic(): boolean {
    return true;
  }
  remoteConnections(): number {
    return 0;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
