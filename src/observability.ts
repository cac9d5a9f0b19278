/**
 * What lets people see into a running node, apart from what it serves: the collectors of the
 * gauges that read other parts (webhook queues, cluster nodes, replicated entries), Node's process
 * metrics (an event-loop delay timer and a GC observer, only when someone may read them), the
 * dashboard's stats feed with its part of the heartbeat (`stats`, only while someone watches), and
 * the dashboard's listener (its code loads only when enabled). Part of the composition root:
 * built only by server.ts.
 */
import type { NodeInfo } from './cluster/membership.js';
import type { ClusterFeature, MembershipView, StopMode } from './cluster/types.js';
import type { Config } from './config/schema.js';
import type { ChannelQueries } from './core/types.js';
import { StatsFeed } from './dashboard/feed.js';
import type { DashboardServer } from './dashboard/server.js';
import { collectStats, parseStats } from './dashboard/stats.js';
import type { Logger } from './log/logger.js';
import { addProcessMetrics, type ProcessMetrics } from './metrics/process-metrics.js';
import type { ServerMetrics } from './metrics/server-metrics.js';
import type { Part } from './stop.js';
import { VERSION } from './version.js';

const isLive = (n: NodeInfo): boolean => !n.down && n.leavingUntil === 0;

export class Observability implements Part {
  readonly name = 'observability';
  readonly feed: StatsFeed;
  /** The dashboard's part of this node's heartbeat (registered with the cluster node). */
  readonly heartbeatStats: ClusterFeature;
  private readonly processMetrics: ProcessMetrics | null;
  private dashboard: DashboardServer | undefined;

  constructor(
    private readonly deps: {
      config: Pick<Config, 'metrics' | 'dashboard' | 'region' | 'apps'>;
      nodeId: string;
      metrics: ServerMetrics;
      webhooks: { queueAges(): Record<string, number> };
      /** Who else is in the cluster; null on a single node. */
      membership: Pick<MembershipView, 'all'> | null;
      /** Presence entries held (this node's and the replicated ones). */
      entries: () => number;
      queries: ChannelQueries;
      logger: Logger;
    },
  ) {
    const { config, metrics, webhooks, membership } = deps;
    const startedAt = Date.now();
    this.processMetrics = config.metrics || config.dashboard.enabled ? addProcessMetrics(metrics.registry) : null;
    metrics.webhookQueueAge.collect((set) => {
      for (const [app, age] of Object.entries(webhooks.queueAges())) set({ app }, age);
    });
    const appIds = config.apps.map((a) => a.id);
    const peers = (): readonly NodeInfo[] => membership?.all() ?? [];
    this.feed = new StatsFeed({
      collect: (watching) =>
        collectStats(metrics, appIds, {
          region: config.region,
          version: VERSION,
          startedAt,
          lagMs: (this.processMetrics?.eventLoopLagSeconds() ?? 0) * 1000,
          watching,
          queueAges: webhooks.queueAges(),
        }),
      peerWatching: () => peers().some((n) => isLive(n) && parseStats(n.stats, [])?.watching === true),
    });
    this.heartbeatStats = {
      name: 'dashboard',
      heartbeat: () => {
        const stats = this.feed.forHeartbeat();
        return stats === undefined ? undefined : { stats };
      },
    };
    if (membership) {
      metrics.clusterNodes.collect((set) => set({}, 1 + peers().filter(isLive).length));
      metrics.clusterPeerUp.collect((set) => {
        for (const n of peers()) set({ peer: n.nodeId }, isLive(n) ? 1 : 0);
      });
      metrics.clusterEntries.collect((set) => set({}, deps.entries()));
    }
  }

  /** The dashboard (off by default) listens on its own address; returns its port, if enabled. */
  async listen(): Promise<number | undefined> {
    const { config, logger } = this.deps;
    if (!config.dashboard.enabled) return undefined;
    const { DashboardServer } = await import('./dashboard/server.js');
    this.dashboard = new DashboardServer({
      config: config.dashboard,
      selfId: this.deps.nodeId,
      appIds: config.apps.map((a) => a.id),
      queries: this.deps.queries,
      feed: this.feed,
      peers: () => this.deps.membership?.all() ?? [],
      logger: logger.child({ part: 'dashboard' }),
    });
    return this.dashboard.listen();
  }

  async stop(_mode: StopMode): Promise<void> {
    this.processMetrics?.stop();
    await this.dashboard?.close();
  }
}
