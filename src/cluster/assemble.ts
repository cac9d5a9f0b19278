/**
 * The cluster's parts that exist before anything of the core does: the settings, the membership
 * (who is alive, who owns a topic) and the link over the configured backend. The presence service
 * then builds its replicator over them, and `clusterLink` ties the three into the ClusterLink the
 * core uses. A single node gets none of this (SoloLink).
 */
import type { Config } from '../config/schema.js';
import type { HistoryInbound, HistoryLink } from '../history/types.js';
import type { Logger } from '../log/logger.js';
import type { Refusals } from '../limits/refusals.js';
import type { Replicator } from '../presence/replicator.js';
import type { ReplicationOptions } from '../presence/service.js';
import { createBackend } from './backends/load.js';
import type { MemoryBus } from './backends/memory.js';
import { BackendLink } from './link.js';
import { Membership } from './membership.js';
import { ClusterNode } from './node.js';
import { clusterSettings, type ClusterSettings } from './settings.js';
import { SoloLink, type ClusterLink } from './types.js';

export interface ClusterParts {
  settings: ClusterSettings;
  membership: Membership;
  link: BackendLink;
}

/** Null on a single node (memory driver without a shared bus). Loads the backend's driver. */
export async function clusterParts(
  config: Config,
  self: string,
  logger: Logger,
  bus?: MemoryBus,
): Promise<ClusterParts | null> {
  if (config.cluster.driver === 'memory' && bus === undefined) return null;
  const settings = clusterSettings(config.cluster);
  const backend = await createBackend(config.cluster, logger.child({ part: 'backend' }), bus);
  return {
    settings,
    membership: new Membership(self, { nodeTimeoutMs: settings.nodeTimeoutMs, forgetAfterMs: settings.forgetAfterMs }),
    link: new BackendLink({ backend, prefix: settings.prefix, self, logger: logger.child({ part: 'cluster' }) }),
  };
}

/** What the presence service's replicator needs of the cluster. */
export function replication(
  parts: ClusterParts,
  node: { connections: () => Record<string, number>; stats?: () => unknown },
  limits: { maxEntriesPerNode: number; refusals: Refusals },
  logger: Logger,
): ReplicationOptions {
  return {
    ...limits,
    send: (msg, to) => parts.link.send(msg, to),
    membership: parts.membership,
    connections: node.connections,
    ...(node.stats ? { stats: node.stats } : {}),
    deltaDelayMs: parts.settings.deltaDelayMs,
    logger: logger.child({ part: 'cluster' }),
  };
}

/** What channel history needs of the cluster: who sequences a channel, and a way to it. */
export function historyLink(self: string, parts: ClusterParts): HistoryLink {
  return {
    self,
    ownerOf: (topic) => parts.membership.owner(topic),
    sendHistory: (to, body) => parts.link.send({ v: 1, type: 'hist', from: self, body }, to),
    markHistory: (topic, id) => parts.link.mark(topic, id),
    wasOwner: (replica, topic) => parts.membership.wouldOwn(replica, topic),
  };
}

export function clusterLink(
  self: string,
  parts: ClusterParts | null,
  replicator: Replicator | null,
  logger: Logger,
  history?: HistoryInbound,
): ClusterLink {
  if (parts === null || replicator === null) return new SoloLink();
  return new ClusterNode({
    self,
    link: parts.link,
    membership: parts.membership,
    replicator,
    settings: parts.settings,
    logger: logger.child({ part: 'cluster' }),
    ...(history ? { history } : {}),
  });
}
