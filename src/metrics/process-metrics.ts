/**
 * Node's own health under prom-client's default names (`process_cpu_user_seconds_total`,
 * `nodejs_eventloop_lag_seconds`, `nodejs_gc_duration_seconds`, `nodejs_heap_size_used_bytes`, …),
 * prefixed like Soketi prefixes them (`soketi_nodejs_…` there, `wiremesh_nodejs_…` here), so the
 * same Grafana panels work after a prefix swap.
 *
 * Why not prom-client itself: it keeps a second registry whose text is produced asynchronously,
 * while /metrics (and the workers' merge, which labels every series with its worker) works on
 * this registry's synchronous text. What is measured costs next to nothing between scrapes: the
 * event loop delay is Node's native histogram, sampled only while the loop is busy (loop-lag.ts),
 * and GC durations come from a PerformanceObserver.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';
import { LoopLag } from './loop-lag.js';
import { Histogram, type MetricsRegistry } from './registry.js';

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export interface ProcessMetrics {
  /** Event-loop delay beyond the sampling timer's own period (mean since the last scrape, seconds), for the dashboard. */
  eventLoopLagSeconds(): number;
  stop(): void;
}

/** Adds Node's process metrics to `registry` under `prefix`; `stop()` ends the observers. */
export function addProcessMetrics(registry: MetricsRegistry, prefix = 'wiremesh_'): ProcessMetrics {
  const loop = new LoopLag();
  const gc = new Histogram(
    `${prefix}nodejs_gc_duration_seconds`,
    'Garbage collection duration by kind, one of major, minor, incremental or weakcb',
    [0.001, 0.01, 0.1, 1, 2, 5],
  );
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1;
      gc.observe({ kind: GC_KINDS[kind] ?? 'unknown' }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const startSeconds = Math.round((Date.now() - performance.now()) / 1000);
  const version = process.versions.node;
  const [major, minor, patch] = version.split('.');

  registry.section(() => {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const s = (v: number): number => v / 1e9;
    const lines: string[] = [];
    const one = (name: string, type: 'counter' | 'gauge', help: string, value: number, labels = ''): void => {
      lines.push(
        `# HELP ${prefix}${name} ${help}`,
        `# TYPE ${prefix}${name} ${type}`,
        `${prefix}${name}${labels} ${value}`,
      );
    };
    one('process_cpu_user_seconds_total', 'counter', 'Total user CPU time spent in seconds.', cpu.user / 1e6);
    one('process_cpu_system_seconds_total', 'counter', 'Total system CPU time spent in seconds.', cpu.system / 1e6);
    one(
      'process_cpu_seconds_total',
      'counter',
      'Total user and system CPU time spent in seconds.',
      (cpu.user + cpu.system) / 1e6,
    );
    one('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', startSeconds);
    one('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', mem.rss);
    one('nodejs_eventloop_lag_seconds', 'gauge', 'Lag of event loop in seconds.', s(loop.mean || 0));
    one(
      'nodejs_eventloop_lag_min_seconds',
      'gauge',
      'The minimum recorded event loop delay.',
      s(loop.count > 0 ? loop.min : 0),
    );
    one('nodejs_eventloop_lag_max_seconds', 'gauge', 'The maximum recorded event loop delay.', s(loop.max));
    one('nodejs_eventloop_lag_mean_seconds', 'gauge', 'The mean of the recorded event loop delays.', s(loop.mean || 0));
    one(
      'nodejs_eventloop_lag_stddev_seconds',
      'gauge',
      'The standard deviation of the recorded event loop delays.',
      s(loop.stddev || 0),
    );
    for (const p of [50, 90, 99]) {
      one(
        `nodejs_eventloop_lag_p${p}_seconds`,
        'gauge',
        `The ${p}th percentile of the recorded event loop delays.`,
        s(loop.percentile(p)),
      );
    }
    one('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.', mem.heapTotal);
    one('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.', mem.heapUsed);
    one('nodejs_external_memory_bytes', 'gauge', 'Node.js external memory size in bytes.', mem.external);
    const spaces = v8.getHeapSpaceStatistics();
    for (const [field, name] of [
      ['space_size', 'total'],
      ['space_used_size', 'used'],
      ['space_available_size', 'available'],
    ] as const) {
      lines.push(
        `# HELP ${prefix}nodejs_heap_space_size_${name}_bytes Process heap space size ${name} from Node.js in bytes.`,
      );
      lines.push(`# TYPE ${prefix}nodejs_heap_space_size_${name}_bytes gauge`);
      for (const sp of spaces) {
        lines.push(
          `${prefix}nodejs_heap_space_size_${name}_bytes{space="${sp.space_name.replace(/_space$/, '')}"} ${sp[field]}`,
        );
      }
    }
    one(
      'nodejs_version_info',
      'gauge',
      'Node.js version info.',
      1,
      `{version="v${version}",major="${major}",minor="${minor}",patch="${patch}"}`,
    );
    // The lag gauges describe the time since the last scrape, like prom-client's.
    loop.reset();
    return [lines.join('\n'), gc.render()].join('\n');
  });

  return {
    eventLoopLagSeconds: () => loop.lagSeconds(),
    stop: () => {
      observer.disconnect();
      loop.stop();
    },
  };
}
