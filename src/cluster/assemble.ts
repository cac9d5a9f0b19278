/**
 * Builds this node's cluster part from the config: the settings, the membership, the Carrier over
 * the configured backend (its driver loaded only now) and the ClusterNode over them. Called only
 * by the composition root (server.ts), before any part that uses the cluster, so each of those is
 * given the node in its constructor. A single node (memory driver without a shared bus) gets none:
 * null, and the root uses SoloLink.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { createBackend } from './backends/load.js';
import type { MemoryBus } from './backends/memory.js';
import { Carrier } from './carrier.js';
import { Membership } from './membership.js';
import { ClusterNode } from './node.js';
import { clusterSettings } from './settings.js';

export async function assembleCluster(
  config: Config,
  nodeId: string,
  /** This node's connections per app, announced in its heartbeats. */
  connections: () => Record<string, number>,
  logger: Logger,
  bus?: MemoryBus,
): Promise<ClusterNode | null> {
  if (config.cluster.driver === 'memory' && bus === undefined) return null;
  const settings = clusterSettings(config.cluster);
  const backend = await createBackend(config.cluster, logger.child({ part: 'backend' }), bus);
  const clusterLogger = logger.child({ part: 'cluster' });
  return new ClusterNode({
    nodeId,
    carrier: new Carrier({ backend, prefix: settings.prefix, nodeId, logger: clusterLogger }),
    membership: new Membership(nodeId, {
      nodeTimeoutMs: settings.nodeTimeoutMs,
      forgetAfterMs: settings.forgetAfterMs,
    }),
    settings,
    connections,
    logger: clusterLogger,
  });
}
