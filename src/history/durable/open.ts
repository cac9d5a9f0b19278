/**
 * The broker's channel store, when some app keeps its history there (`apps[].history.store:
 * broker`, validated to need the redis driver): loaded and connected only then.
 */
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import type { HistoryChannels } from '../channels.js';
import type { ChannelStore } from './types.js';

export async function openChannelStore(
  config: Config,
  channels: HistoryChannels | undefined,
  logger: Logger,
): Promise<ChannelStore | undefined> {
  if (!channels || !config.apps.some((app) => app.history?.store === 'broker')) return undefined;
  if (config.cluster.driver !== 'redis')
    throw new Error(`apps[].history.store broker needs cluster.driver redis, not ${config.cluster.driver}`);
  const { RedisChannelStore } = await import('./redis-store.js');
  const { url, prefix, sharded } = config.cluster.redis;
  return RedisChannelStore.connect({ url, prefix, sharded, configOf: (appId) => channels.configOf(appId) }, logger);
}
