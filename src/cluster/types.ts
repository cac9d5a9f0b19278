/**
 * The seams of clustering. The core always delivers to its own sockets; a `ClusterLink` only
 * carries channel traffic to *other* nodes (the single-node default, `SoloLink`, carries nothing).
 * Everything else between nodes is a control message whose type a feature registers with the
 * node (`ClusterFeature` on `ClusterControl`): presence replication, channel history, the core's
 * cache and user commands. Below the node, the Carrier moves bytes and a backend (memory, Redis,
 * NATS, mesh; cluster/backends/types.ts) moves subjects; neither knows what they carry.
 */
import type { ControlFields, ControlMessage } from './envelope.js';
import type { Membership } from './membership.js';

export type { ControlFields, ControlMessage } from './envelope.js';

/** Which node sends the cluster-wide webhooks of a topic (decided by membership). */
export interface TopicOwnership {
  /** True if this node is the one that sends cluster-wide webhooks for `topic`. */
  ownsTopic(topic: string): boolean;
}

/** Channel traffic between nodes, as the core (and the fragments) use it. Fire-and-forget, at most once. */
export interface ClusterLink extends TopicOwnership {
  /** The node now has its first local subscriber on `topic`: start receiving its traffic. */
  watch(topic: string): void;
  /** The last local subscriber of `topic` left: stop receiving its traffic. */
  unwatch(topic: string): void;
  /** Carry a serialized channel frame to the other nodes serving `topic`. */
  forward(topic: string, frame: string, exceptSocketId?: string): void;
  /** Connections of an app on the other live nodes, as last reported by their heartbeats. */
  remoteConnections(appId: string): number;
  /**
   * True when other nodes keep this node's presence entries for a hand-off period after it leaves
   * gracefully, so clients reconnecting elsewhere cause no leave/rejoin. The core then does not
   * record leaves for sockets it closes while draining.
   */
  readonly handsOffPresence: boolean;
}

/** Where the channel frames other nodes forwarded on watched topics go (the core). */
export interface ChannelReceiver {
  deliver(topic: string, frame: string, exceptSocketId?: string): void;
}

/** How a node stops: drained and announced, at once (tests), or as a crash would (failure tests). */
export type StopMode = 'graceful' | 'immediate' | 'crash';

/** Whether a heartbeat came from a node never seen ('new'), one that was down ('up'), or neither. */
export type Seen = 'new' | 'up' | null;

/**
 * One feature's part in the cluster, registered with the node before it joins (as a Phoenix
 * tracker shard owns its messages): the control message types it owns, what it adds to this
 * node's heartbeats, and what it hears of other nodes. Every member is optional.
 */
export interface ClusterFeature {
  /** For log lines. */
  readonly name: string;
  /** Handlers of the control message types this feature owns; each checks its own fields. */
  readonly messages?: Readonly<Record<string, (msg: ControlMessage) => void>>;
  /** Channel frames from other nodes (at most one feature receives them: the core). */
  readonly channels?: ChannelReceiver;
  /** Fields added to every heartbeat this node sends (built by the node's timer); undefined = none. */
  heartbeat?(): ControlFields | undefined;
  /** Another node's heartbeat, after membership recorded it. */
  heard?(hb: ControlMessage, seen: Seen): void;
  /** A mark another node published on a watched topic (ClusterControl.mark). */
  marked?(topic: string, id: string): void;
  /** A node stopped heartbeating. */
  nodeDown?(nodeId: string): void;
  /** A node down for long, or whose graceful hand-off ended, is forgotten. */
  nodeForgotten?(nodeId: string): void;
  /** This node's own connection to the others came back (messages were lost meanwhile). */
  reconnected?(): void;
  /** Live nodes whose state this feature has not caught up with (the node waits for them when it joins). */
  behind?(): readonly string[];
}

/** Who is in the cluster, as features may read it. */
export type MembershipView = Pick<Membership, 'owner' | 'ranked' | 'wouldOwn' | 'live' | 'known' | 'all'>;

/** The node as its features see it (cluster/node.ts). */
export interface ClusterControl {
  readonly nodeId: string;
  readonly membership: MembershipView;
  /** @throws Error once the node has joined, or when a message type is registered twice. */
  register(feature: ClusterFeature): void;
  /** Sends `{ v: 1, type, from, ...fields }` to every node, or to one. At most once. */
  send(type: string, fields: ControlFields, to?: string): void;
  /** A mark on `topic`'s data subject, behind every frame this node forwarded on it before. */
  mark(topic: string, id: string): void;
  /** Sends a heartbeat soon (after the cluster's delta delay), batched with other requests. */
  beatSoon(): void;
}

export class SoloLink implements ClusterLink {
  readonly handsOffPresence = false;
  watch(): void {}
  unwatch(): void {}
  forward(): void {}
  ownsTopic(): boolean {
    return true;
  }
  remoteConnections(): number {
    return 0;
  }
}
