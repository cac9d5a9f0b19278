/**
 * The config of worker process `index` of `count` (`workers` > 1). Every worker is a cluster node
 * of its own, with the same apps and port (shared by SO_REUSEPORT), so what a client sees does
 * not depend on the worker the kernel handed its connection to: presence, channel queries,
 * webhooks and quotas are cluster-wide as between any nodes.
 *
 * How the workers find each other depends on `cluster.driver`:
 * - `memory` (one node, no cluster configured): they form a mesh on loopback, worker i listening
 *   on `cluster.mesh.port + i` of 127.0.0.1, with a secret the supervisor draws at start.
 * - `redis`, `nats`: each worker is one more node on the broker; nothing else changes.
 * - `mesh`: worker i listens on `cluster.mesh.port + i`; it dials its siblings, and every peer
 *   (static `host:port` or found by `dns`) on each of the `count` ports from that peer's port,
 *   so every node of the cluster must run the same number of workers.
 */
import type { Config, MeshConfig } from '../config/schema.js';
import { parsePeer, targetOf } from '../cluster/peer-address.js';

export function workerConfig(config: Config, index: number, count: number, loopbackSecret: string): Config {
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new RangeError(`worker index ${index} not in [0, ${count})`);
  const { cluster } = config;
  const base = cluster.mesh.port;
  const port = base + index;
  const siblingPorts = Array.from({ length: count }, (_, i) => base + i).filter((p) => p !== port);
  const perIp = config.limits.maxConnectionsPerIp;
  const worker = {
    ...config,
    nodeId: `${config.nodeId}-w${index}`,
    workers: 1,
    limits: { ...config.limits, maxConnectionsPerIp: perIp === 0 ? 0 : Math.ceil(perIp / count) },
  };
  let mesh: MeshConfig;
  switch (cluster.driver) {
    case 'redis':
    case 'nats':
      return worker;
    case 'memory':
      mesh = { port, host: '127.0.0.1', peers: siblingPorts.map((p) => `127.0.0.1:${p}`), secret: loopbackSecret };
      break;
    case 'mesh': {
      const { host, peers, dns } = cluster.mesh;
      const siblings = siblingPorts.map((p) => targetOf(siblingHost(host), p).key);
      const remote = peers
        .map(parsePeer)
        .flatMap((peer) => Array.from({ length: count }, (_, i) => targetOf(peer.host, peer.port + i).key));
      mesh = {
        ...cluster.mesh,
        port,
        peers: [...new Set([...siblings, ...remote])],
        ...(dns === undefined ? {} : { dnsPorts: Array.from({ length: count }, (_, i) => base + i) }),
      };
      break;
    }
  }
  return { ...worker, cluster: { ...cluster, driver: 'mesh', mesh } };
}

/** Where a sibling worker is reached: its own listen address, or loopback when it listens on all. */
function siblingHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host.replace(/^\[(.*)\]$/, '$1');
}
