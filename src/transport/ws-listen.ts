/**
 * How the `ws` transport listens. A node's worker processes share one port: where node:net has
 * `reusePort` (Node 22.12+ and 23.1+ on Linux), each worker binds its own listening socket with
 * SO_REUSEPORT and the kernel spreads the connections, as uWebSockets.js does. Elsewhere the port
 * goes through node:cluster: the supervisor accepts every connection and hands it to a worker
 * over IPC (round-robin), which costs the supervisor and the worker CPU on every connect (at
 * 100,000 connections the supervisor's single core becomes the connect bottleneck).
 */
import type { ListenOptions } from 'node:net';

/** node:net's `reusePort` listen option: Node 22.12+ (22.x), 23.1+ and later, on Linux. */
export function hasReusePort(version: string = process.versions.node, platform: string = process.platform): boolean {
  if (platform !== 'linux') return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

export function listenOptions(
  port: number,
  host: string,
  sharedPort: boolean,
  reusePort: boolean = hasReusePort(),
): ListenOptions & { reusePort?: boolean } {
  // Exclusive: the worker binds itself; only a shared port without SO_REUSEPORT goes through the primary.
  if (sharedPort && reusePort) return { port, host, exclusive: true, reusePort: true };
  return { port, host, exclusive: !sharedPort };
}
