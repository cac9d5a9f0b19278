/**
 * What one node tells the others about itself for the dashboard: the heartbeat's optional `stats`
 * field, versioned on its own. Counters are cumulative (the page computes rates from two reads);
 * nothing is kept per second.
 *
 *   { v: 1, region, version, startedAt, lagMs, watching, apps: { [appId]: AppStats } }
 *
 * `watching` is true while this node serves a dashboard viewer: every node sends its stats only
 * while some node says so, so an unwatched cluster sends and computes nothing extra.
 */
import type { ServerMetrics } from '../metrics/server-metrics.js';

export interface AppStats {
  /** Open connections (gauge). */
  conns: number;
  msgIn: number;
  msgOut: number;
  /** HTTP API calls, and those answered with a 4xx/5xx. */
  api: number;
  apiErr: number;
  whOk: number;
  whFail: number;
  whDropped: number;
  /** Seconds since the oldest undelivered webhook batch was cut (gauge). */
  whAge: number;
  /** Livewire tunnel requests, fallbacks to HTTP, and the latency histogram's count and sum (s). */
  lw: number;
  lwFb: number;
  lwN: number;
  lwSum: number;
}

export interface NodeStats {
  v: 1;
  region: string;
  version: string;
  startedAt: number;
  lagMs: number;
  watching: boolean;
  apps: Record<string, AppStats>;
}

/** At most this many apps per node in one heartbeat (about 150 bytes each). */
export const MAX_APPS = 200;

const FIELDS: readonly (keyof AppStats)[] = [
  'conns',
  'msgIn',
  'msgOut',
  'api',
  'apiErr',
  'whOk',
  'whFail',
  'whDropped',
  'whAge',
  'lw',
  'lwFb',
  'lwN',
  'lwSum',
];

export function emptyAppStats(): AppStats {
  return {
    conns: 0,
    msgIn: 0,
    msgOut: 0,
    api: 0,
    apiErr: 0,
    whOk: 0,
    whFail: 0,
    whDropped: 0,
    whAge: 0,
    lw: 0,
    lwFb: 0,
    lwN: 0,
    lwSum: 0,
  };
}

/** This node's stats for the apps in `appIds`, read from its metrics. */
export function collectStats(
  m: ServerMetrics,
  appIds: readonly string[],
  node: {
    region: string;
    version: string;
    startedAt: number;
    lagMs: number;
    watching: boolean;
    queueAges: Record<string, number>;
  },
): NodeStats {
  const conns = m.connections.sumBy('app');
  const msgIn = m.messagesIn.sumBy('app');
  const msgOut = m.messagesOut.sumBy('app');
  const api = m.apiCalls.sumBy('app');
  const apiErr = m.apiCalls.sumBy('app', (l) => Number(l.status) >= 400);
  const whOk = m.webhooks.sumBy('app', (l) => l.outcome === 'ok');
  const whFail = m.webhooks.sumBy('app', (l) => l.outcome !== 'ok');
  const whDropped = m.webhooksDropped.sumBy('app');
  const lw = m.livewireRequests.sumBy('app');
  const lwFb = m.livewireFallbacks.sumBy('app');
  const lat = m.livewireLatency.statsBy('app');
  const apps: Record<string, AppStats> = {};
  let listed = 0;
  for (const id of appIds) {
    const a: AppStats = {
      conns: conns[id] ?? 0,
      msgIn: msgIn[id] ?? 0,
      msgOut: msgOut[id] ?? 0,
      api: api[id] ?? 0,
      apiErr: apiErr[id] ?? 0,
      whOk: whOk[id] ?? 0,
      whFail: whFail[id] ?? 0,
      whDropped: whDropped[id] ?? 0,
      whAge: node.queueAges[id] ?? 0,
      lw: lw[id] ?? 0,
      lwFb: lwFb[id] ?? 0,
      lwN: lat[id]?.count ?? 0,
      lwSum: lat[id]?.sum ?? 0,
    };
    // Sparse and bounded: an app with nothing to report is left out (the page counts it as 0).
    if (FIELDS.some((f) => a[f] !== 0) && listed++ < MAX_APPS) apps[id] = a;
  }
  return {
    v: 1,
    region: node.region,
    version: node.version,
    startedAt: node.startedAt,
    lagMs: node.lagMs,
    watching: node.watching,
    apps,
  };
}

const finite = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : 0);
const short = (x: unknown): string => (typeof x === 'string' ? x.slice(0, 64) : '');

/**
 * A peer's `stats` field, checked: null unless it is version 1. Only apps this node knows are
 * kept (so a peer cannot grow what the page shows) and every number is a finite count.
 */
export function parseStats(raw: unknown, appIds: readonly string[]): NodeStats | null {
  if (raw === null || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  if (r.v !== 1) return null;
  const apps: Record<string, AppStats> = {};
  const given = r.apps !== null && typeof r.apps === 'object' ? (r.apps as Record<string, unknown>) : {};
  for (const id of appIds) {
    if (Object.keys(apps).length >= MAX_APPS) break;
    const a = Object.hasOwn(given, id) ? given[id] : undefined;
    if (a === null || typeof a !== 'object') continue;
    const out = emptyAppStats();
    for (const f of FIELDS) out[f] = finite((a as Record<string, unknown>)[f]);
    apps[id] = out;
  }
  return {
    v: 1,
    region: short(r.region),
    version: short(r.version),
    startedAt: finite(r.startedAt),
    lagMs: finite(r.lagMs),
    watching: r.watching === true,
    apps,
  };
}
