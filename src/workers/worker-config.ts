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
import type { Config } from '../config/schema.js';

export function workerConfig(config: Config, index: number, count: number, loopbackSecret: string): Config {
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`worker index ${index} not in [0, ${count})`);
  const base = config.cluster.mesh.port;
  const ports = Array.from({ length: count }, (_, i) => base + i);
  const nodeId = `${config.nodeId}-w${index}`;
  const { cluster } = config;
  switch (cluster.driver) {
    case 'redis':
    case 'nats':
      return { ...config, nodeId, workers: 1 };
    case 'memory':
      return {
        ...config,
        nodeId,
        workers: 1,
        cluster: {
          ...cluster,
          driver: 'mesh',
          mesh: {
            port: base + index,
            host: '127.0.0.1',
            peers: ports.filter((p) => p !== base + index).map((p) => `127.0.0.1:${p}`),
            secret: loopbackSecret,
          },
        },
      };
    case 'mesh': {
      const mesh = cluster.mesh;
      const siblings = ports.filter((p) => p !== base + index).map((p) => `${siblingHost(mesh.host)}:${p}`);
      const peers = mesh.peers.flatMap((peer) => {
        const at = peer.lastIndexOf(':');
        const host = peer.slice(0, at);
        const port = Number(peer.slice(at + 1));
        return Array.from({ length: count }, (_, i) => `${host}:${port + i}`);
      });
      return {
        ...config,
        nodeId,
        workers: 1,
        cluster: {
          ...cluster,
          mesh: {
            ...mesh,
            port: base + index,
            peers: [...new Set([...siblings, ...peers])],
            ...(mesh.dns === undefined ? {} : { dnsPorts: ports }),
          },
        },
      };
    }
  }
}

/** Where a sibling worker is reached: its own listen address, or loopback when it listens on all. */
function siblingHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '[::]') return host === '0.0.0.0' ? '127.0.0.1' : '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
