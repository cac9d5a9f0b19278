/**
 * When the server cannot listen: if another process holds the port, say so and name the setting
 * that chose it and the ones that change it.
 */
import { createServer } from 'node:net';
import type { EnvSource } from '../config/env.js';

/** True when `host:port` cannot be bound because something else listens there. */
export async function portInUse(host: string, port: number): Promise<boolean> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port, exclusive: true }, resolve);
    });
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
  } finally {
    probe.close();
  }
}

export function portInUseMessage(host: string, port: number, sources: readonly EnvSource[], file?: string): string {
  const env = sources.find((s) => s.path === 'port');
  const chosen = env
    ? `set by environment variable ${env.name}`
    : file !== undefined
      ? `from the config file ${file}, or the default`
      : 'the default';
  return (
    `port ${port} on ${host} is already in use (${chosen}): stop the other server (another wiremesh, Reverb, Soketi?) ` +
    `or choose another port with WIREMESH_PORT (or PORT), "port" in the config file, ` +
    `or php artisan wiremesh:start --port`
  );
}
