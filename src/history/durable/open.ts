/**
 * The broker's channel store, when some app keeps its history there (`apps[].history.store:
 * broker`, validated to need the redis or nats driver): loaded and connected only then.
 */
import type { Config, HistoryConfig } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import type { HistoryChannels } from '../channels.js';
import type { ChannelStore, StoreInbound } from './types.js';

export async function openChannelStore(
  config: Config,
  channels: HistoryChannels | undefined,
  logger: Logger,
  /** Where the nats store hands its live copies and marks (the cluster node's Carrier). */
  inbound: StoreInbound | undefined,
): Promise<ChannelStore | undefined> {
  if (!channels || !config.apps.some((app) => app.history?.store === 'broker')) return undefined;
  if (config.cluster.driver === 'nats') {
    if (!inbound) throw new Error('apps[].history.store broker on the nats driver needs the cluster node');
    const { NatsChannelStore } = await import('./nats-store.js');
    const { servers, prefix, user, pass, token, historyStorage, historyReplicas } = config.cluster.nats;
    const apps = new Map<string, HistoryConfig>();
    for (const app of config.apps) if (app.history?.store === 'broker') apps.set(app.id, app.history);
    return NatsChannelStore.connect(
      {
        servers,
        user,
        pass,
        token,
        prefix,
        placement: { storage: historyStorage, replicas: historyReplicas },
        apps,
        inbound,
      },
      logger,
    );
  }
  if (config.cluster.driver !== 'redis')
    throw new Error(`apps[].history.store broker needs cluster.driver redis or nats, not ${config.cluster.driver}`);
  const { RedisChannelStore } = await import('./redis-store.js');
  const { url, prefix, sharded } = config.cluster.redis;
  return RedisChannelStore.connect({ url, prefix, sharded, configOf: (appId) => channels.configOf(appId) }, logger);
}
