/**
 * The one seam between the single-node core and clustering. The core always delivers to its own
 * sockets; a `ClusterLink` only carries things to *other* nodes. The single-node default
 * (`SoloLink`) carries nothing. Backends (Redis, NATS, in-memory) sit below the link and know
 * nothing of Pusher (see cluster/backends/types.ts).
 */
/** Which node sends the cluster-wide webhooks of a topic (decided by membership). */
export interface TopicOwnership {
  /** True if this node is the one that sends cluster-wide webhooks for `topic`. */
  ownsTopic(topic: string): boolean;
}

/** A single node owns every topic. */
export const SOLE_OWNER: TopicOwnership = { ownsTopic: () => true };

/** What the core asks of the rest of the cluster. All sends are fire-and-forget, at most once. */
export interface ClusterLink extends TopicOwnership {
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
  /** Connections of an app on the other live nodes, as last reported by their heartbeats. */
  remoteConnections(appId: string): number;
  /**
   * True when other nodes keep this node's presence entries for a hand-off period after it leaves
   * gracefully, so clients reconnecting elsewhere cause no leave/rejoin. The core then does not
   * record leaves for sockets it closes while draining.
   */
  readonly handsOffPresence: boolean;
  /** Joins the cluster; `inbound` receives what other nodes send (registered once, here). */
  start(inbound: ClusterInbound): Promise<void>;
  /** Leaves: `graceful`/`immediate` tell the others (hand-off), `crash` just goes silent. */
  stop(mode: StopMode): Promise<void>;
}

/** How a node stops: drained and announced, at once (tests), or as a crash would (failure tests). */
export type StopMode = 'graceful' | 'immediate' | 'crash';

export type UserCommand = { type: 'terminate' };

/**
 * What a link delivers into the core. Implemented once by the core, registered at `start`.
 * (Presence changes from other nodes go to the presence service, through its replicator.)
 */
export interface ClusterInbound {
  deliver(topic: string, frame: string, exceptSocketId?: string): void;
  cacheStored(topic: string, frame: string): void;
  userCommand(appId: string, userId: string, command: UserCommand): void;
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
