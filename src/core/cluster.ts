/**
 * The core's own messages between nodes, as a feature of the cluster node: the last event of a
 * cache channel (`cache { topic, frame }`: every node keeps it, serving the channel or not) and a
 * command for a user's sockets (`user { app, user, command }`), both as every earlier build sends
 * them; and the channel frames other nodes forward (ClusterLink). Each field is checked on arrival.
 */
import type { ChannelReceiver, ClusterControl, ClusterFeature, ControlMessage } from '../cluster/types.js';

export type UserCommand = { type: 'terminate' };

/** What the core tells the other nodes besides channel frames. Fire-and-forget, at most once. */
export interface PeerCommands {
  /** A cache channel's last event changed: every node keeps it, serving the channel or not. */
  cache(topic: string, frame: string): void;
  /** Carry a command for a user's sockets to every other node. */
  userCommand(appId: string, userId: string, command: UserCommand): void;
}

/** A single node tells nobody. */
export const NO_PEERS: PeerCommands = { cache() {}, userCommand() {} };

/** What the core takes in from other nodes (implemented once, by the core). */
export interface CoreInbound extends ChannelReceiver {
  cacheStored(topic: string, frame: string): void;
  userCommand(appId: string, userId: string, command: UserCommand): void;
}

/** The sending half, given to the core at construction. */
export class CoreMessages implements PeerCommands {
  constructor(private readonly node: Pick<ClusterControl, 'send'>) {}

  cache(topic: string, frame: string): void {
    this.node.send('cache', { topic, frame });
  }

  userCommand(appId: string, userId: string, command: UserCommand): void {
    this.node.send('user', { app: appId, user: userId, command });
  }
}

const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';

/**
 * The receiving half, registered with the node once the core exists. `channels` is where channel
 * frames go: the core, or the core behind a part that takes some topics out (fragments/cluster.ts).
 */
export function coreFeature(core: CoreInbound, channels: ChannelReceiver = core): ClusterFeature {
  return {
    name: 'core',
    channels,
    messages: {
      cache: (msg: ControlMessage) => {
        if (!isText(msg.topic) || typeof msg.frame !== 'string') throw new TypeError('cache needs a topic and a frame');
        core.cacheStored(msg.topic, msg.frame);
      },
      user: (msg: ControlMessage) => {
        const command = msg.command as UserCommand | null;
        if (!isText(msg.app) || !isText(msg.user) || command === null || typeof command !== 'object')
          throw new TypeError('user needs an app, a user and a command');
        core.userCommand(msg.app, msg.user, command);
      },
    },
  };
}
