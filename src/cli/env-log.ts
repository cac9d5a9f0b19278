/** The start-up line saying which environment variable supplied each setting (names, never values). */
import type { EnvSource } from '../config/env.js';
import type { Logger } from '../log/logger.js';

export function logEnvSources(logger: Logger, sources: readonly EnvSource[]): void {
  if (sources.length === 0) return;
  const from: Record<string, string> = {};
  for (const s of sources) from[s.path] = s.name;
  logger.info('settings from the environment', { from });
  for (const s of sources) {
    if (s.shadowed && s.shadowed.length > 0) {
      logger.warn('several environment variables set the same setting; the first one is used', {
        setting: s.path,
        used: s.name,
        ignored: s.shadowed,
      });
    }
  }
}
