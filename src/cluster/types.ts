/**
 * The one seam between the single-node core and clustering. The core always delivers to its own
 * sockets; a `ClusterLink` only carries things to *other* nodes. The single-node default
 * (`SoloLink`) carries nothing. Backends (Redis, NATS, mesh) sit below a link and know nothing of
 * Pusher.
 */
import type { Change } from '../presence/state.js';

/** What the core asks of the rest of the cluster. All methods are fire-and-forget, at most once. */
export interface ClusterLink {
  /** The node now has its first local subscriber on `topic`: start receiving its traffic. */
  watch(topic: string): void;
  /** The last local subscriber of `topic` left: stop receiving its traffic. */
  unwatch(topic: string): void;
  /** Carry a serialized channel frame to the other nodes serving `topic`. */
  forward(topic: string, frame: string, exceptSocketId?: string): void;
  /** Carry a command for a user's sockets to every other node. */
  userCommand(appId: string, userId: string, command: UserCommand): void;
  /** True if this node is the one that sends cluster-wide webhooks for `topic`. */
  ownsTopic(topic: string): boolean;
  /** Cluster-wide connection count of an app, as last known (excluding this node's). */
  remoteConnections(appId: string): number;
}

export type UserCommand = { type: 'terminate' };

/** What a link delivers into the core. Implemented once by the core, registered with the link. */
export interface ClusterInbound {
  deliver(topic: string, frame: string, exceptSocketId?: string): void;
  userCommand(appId: string, userId: string, command: UserCommand): void;
  /** Presence/subscription changes merged from other nodes. */
  presenceChanged(changes: Change[]): void;
}

export class SoloLink implements ClusterLink {
  watch(): void {}
  unwatch(): void {}
  forward(): void {}
  userCommand(): void {}
  ownsTopic(): boolean {
    return true;
  }
  remoteConnections(): number {
    return 0;
  }
}
