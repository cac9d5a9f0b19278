/**
 * The dashboard's JSON answers, built on request from what this node already holds: its own
 * metrics, the other nodes' heartbeat stats (dashboard/stats.ts) and the replicated channel state
 * (ChannelQueries, the same reads the HTTP API answers cluster-wide from).
 */
import type { ChannelQueries } from '../core/types.js';
import { emptyAppStats, parseStats, type AppStats, type NodeStats } from './stats.js';

export interface PeerView {
  nodeId: string;
  lastSeen: number;
  down: boolean;
  leavingUntil: number;
  conns: Record<string, number>;
  stats?: unknown;
}

export interface NodeRow {
  id: string;
  self: boolean;
  /** up: heartbeating; down: silent past the node timeout; leaving: said goodbye. */
  health: 'up' | 'down' | 'leaving';
  region: string;
  version: string;
  uptimeS: number;
  lastSeenMs: number;
  lagMs: number;
  connections: number;
  /** False until the node's first heartbeat with stats arrived (a second or two after a viewer came). */
  reporting: boolean;
}

export interface AppRow extends AppStats {
  id: string;
  channels: number;
  presenceChannels: number;
  presenceMembers: number;
}

export interface ClusterSnapshot {
  time: number;
  nodes: NodeRow[];
  /** Per app, summed over the live nodes (counters are cumulative: the page takes rates). */
  apps: AppRow[];
}

export const MAX_LISTED = 200;

export function clusterSnapshot(input: {
  self: { id: string; stats: NodeStats };
  peers: readonly PeerView[];
  appIds: readonly string[];
  queries: ChannelQueries;
  now: number;
}): ClusterSnapshot {
  const { self, now, appIds } = input;
  const nodes: NodeRow[] = [row(self.id, true, 'up', self.stats, now, 0, sum(self.stats))];
  const live: NodeStats[] = [self.stats];
  for (const p of input.peers) {
    const stats = parseStats(p.stats, appIds);
    const health = p.leavingUntil > 0 ? 'leaving' : p.down ? 'down' : 'up';
    const conns = Object.values(p.conns).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    nodes.push(row(p.nodeId, false, health, stats, now, now - p.lastSeen, health === 'up' ? conns : 0));
    if (health === 'up' && stats) live.push(stats);
  }
  nodes.sort((a, b) => (a.self ? -1 : b.self ? 1 : a.id.localeCompare(b.id)));
  const apps = appIds.map((id) => {
    const total: AppRow = { id, ...emptyAppStats(), channels: 0, presenceChannels: 0, presenceMembers: 0 };
    for (const s of live) {
      const a = s.apps[id];
      if (!a) continue;
      for (const k of Object.keys(a) as (keyof AppStats)[])
        total[k] = k === 'whAge' ? Math.max(total.whAge, a.whAge) : total[k] + a[k];
    }
    for (const c of input.queries.channels(id, '')) {
      total.channels++;
      if (c.name.startsWith('presence-')) {
        total.presenceChannels++;
        total.presenceMembers += c.userCount;
      }
    }
    return total;
  });
  return { time: now, nodes, apps };
}

function sum(stats: NodeStats): number {
  return Object.values(stats.apps).reduce((n, a) => n + a.conns, 0);
}

function row(
  id: string,
  self: boolean,
  health: NodeRow['health'],
  s: NodeStats | null,
  now: number,
  lastSeenMs: number,
  connections: number,
): NodeRow {
  return {
    id,
    self,
    health,
    region: s?.region ?? '',
    version: s?.version ?? '',
    uptimeS: s && s.startedAt > 0 ? Math.max(0, Math.round((now - s.startedAt) / 1000)) : 0,
    lastSeenMs,
    lagMs: s?.lagMs ?? 0,
    connections,
    reporting: s !== null,
  };
}

/** Channels of an app whose name contains `q` (cluster-wide), at most MAX_LISTED, by name. */
export function searchChannels(queries: ChannelQueries, appId: string, q: string) {
  const found = queries.channels(appId, '').filter((c) => c.name.includes(q));
  found.sort((a, b) => a.name.localeCompare(b.name));
  return { total: found.length, channels: found.slice(0, MAX_LISTED) };
}

/** The user ids in a presence channel (cluster-wide), at most MAX_LISTED. */
export function channelMembers(queries: ChannelQueries, appId: string, channel: string) {
  const users = channel.startsWith('presence-') ? queries.users(appId, channel) : [];
  return { channel, total: users.length, users: users.slice(0, MAX_LISTED) };
}
