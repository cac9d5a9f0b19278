/**
 * A small Prometheus registry: counters and gauges with labels, rendered in the text exposition
 * format. No dependency; the hot path only increments numbers in a Map.
 */
type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return keys
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

abstract class Metric {
  protected readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [k, v] of this.values) lines.push(k === '' ? `${this.name} ${v}` : `${this.name}{${k}} ${v}`);
    return lines.join('\n');
  }
}

export class Counter extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
}

export class Gauge extends Metric {
  private readonly collectors: Array<(set: (labels: Labels, v: number) => void) => void> = [];
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(labels: Labels, v: number): void {
    this.values.set(labelKey(labels), v);
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }
  /** Values computed at scrape time. */
  collect(fn: (set: (labels: Labels, v: number) => void) => void): this {
    this.collectors.push(fn);
    return this;
  }
  override render(): string {
    // Collected values are only what the collectors report now: a label set they no longer
    // report (an app whose last connection closed) must not keep its last value.
    if (this.collectors.length > 0) this.values.clear();
    for (const c of this.collectors) c((labels, v) => this.set(labels, v));
    return super.render();
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    const m = new Counter(name, help);
    this.metrics.push(m);
    return m;
  }
  gauge(name: string, help: string): Gauge {
    const m = new Gauge(name, help);
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('\n') + '\n';
  }
}
