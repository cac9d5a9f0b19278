/**
 * Picks the backend named by `cluster.driver`. The Redis, NATS and mesh modules, and the client
 * packages they import, are loaded with `import()` only when configured, so neither client
 * package is needed (both are optional dependencies) unless its driver is used. The mesh needs
 * no package (node:net only).
 */
import type { ClusterConfig } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import { MemoryBackend, type MemoryBus } from './memory.js';
import type { ClusterBackend } from './types.js';

/** The driver's client package could not be found: one precise message with the fix. */
export class DriverNotInstalledError extends Error {
  override readonly name = 'DriverNotInstalledError';
  readonly code = 'WIREMESH_DRIVER_NOT_INSTALLED';

  constructor(
    readonly driver: string,
    readonly packageName: string,
    cause: unknown,
  ) {
    super(`cluster.driver is ${driver} but the '${packageName}' package is not installed: npm install ${packageName}`, {
      cause,
    });
  }
}

/** The client package each driver imports. */
export const DRIVER_PACKAGES = { redis: 'redis', nats: '@nats-io/transport-node' } as const;

/** `bus` lets several in-process nodes share one memory bus (tests); each gets its own otherwise. */
export async function createBackend(cluster: ClusterConfig, logger: Logger, bus?: MemoryBus): Promise<ClusterBackend> {
  switch (cluster.driver) {
    case 'memory':
      return new MemoryBackend(bus);
    case 'redis': {
      const { RedisBackend } = await importDriver('redis', () => import('./redis.js'));
      return new RedisBackend({ url: cluster.redis.url, sharded: cluster.redis.sharded }, logger);
    }
    case 'nats': {
      const { NatsBackend } = await importDriver('nats', () => import('./nats.js'));
      const { servers, user, pass, token } = cluster.nats;
      return new NatsBackend({ servers, user, pass, token }, logger);
    }
    case 'mesh': {
      // Built on node:net only: nothing to install, but loaded only when configured all the same.
      const { MeshBackend } = await import('./mesh.js');
      const { port, host, peers, dns, dnsServers, dnsPorts, dnsMaxAddresses, secret } = cluster.mesh;
      if (secret === undefined) throw new Error('cluster.mesh.secret is required when cluster.driver is mesh');
      return new MeshBackend(
        {
          port,
          host,
          peers,
          secret,
          ...(dnsMaxAddresses === undefined ? {} : { dnsMaxAddresses }),
          ...(dns === undefined ? {} : { dns }),
          ...(dnsServers === undefined ? {} : { dnsServers }),
          ...(dnsPorts === undefined ? {} : { dnsPorts }),
        },
        logger,
      );
    }
  }
}

/** Runs `load`, turning "the driver's package is missing" into a `DriverNotInstalledError`. */
export async function importDriver<T>(driver: keyof typeof DRIVER_PACKAGES, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const pkg = DRIVER_PACKAGES[driver];
    if (isMissingPackage(err, pkg)) throw new DriverNotInstalledError(driver, pkg, err);
    throw err;
  }
}

/** True for Node's "Cannot find package 'pkg'" (not for a missing dependency of that package). */
export function isMissingPackage(err: unknown, pkg: string): boolean {
  return (
    err instanceof Error &&
    (err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' &&
    err.message.includes(`'${pkg}'`)
  );
}
