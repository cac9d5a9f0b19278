/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text exposition
 * format. No dependency; the hot path only increments numbers in a Map.
 */
type Labels = Record<string, string>;

function renderLabels(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

/**
 * Rendered label sets, in a tree walked name by name and value by value (label values repeat:
 * apps, endpoints, statuses), so the hot path builds no string to look one up.
 */
interface LabelNode {
  /** Exposition text of the label set that ends here, once asked for. */
  text: string | undefined;
  /** label name → label value → node. */
  next: Map<string, Map<string, LabelNode>> | undefined;
}

const root: LabelNode = { text: '', next: undefined };
let nodes = 0;
const MAX_NODES = 10_000;

/** The exposition text of a label set; sorted and escaped once per distinct set (hot path). */
function labelKey(labels: Labels): string {
  let node = root;
  for (const k in labels) {
    const v = labels[k] as string;
    let byValue = node.next?.get(k);
    let child = byValue?.get(v);
    if (child === undefined) {
      if (nodes >= MAX_NODES) return renderLabels(labels);
      node.next ??= new Map();
      if (byValue === undefined) node.next.set(k, (byValue = new Map()));
      byValue.set(v, (child = { text: undefined, next: undefined }));
      nodes++;
    }
    node = child;
  }
  return (node.text ??= renderLabels(labels));
}

abstract class Metric {
  protected readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
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

/** Observations counted into cumulative buckets (`le`), with `_sum` and `_count`, per label set. */
export class Histogram extends Metric {
  private readonly series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    private readonly bounds: readonly number[],
  ) {
    super(name, help, 'histogram');
  }
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) s.buckets[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
  override render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const at = (extra: string): string => `{${k === '' ? extra : `${k},${extra}`}}`;
      let cumulative = 0;
      this.bounds.forEach((b, i) => {
        cumulative += s.buckets[i]!;
        lines.push(`${this.name}_bucket${at(`le="${b}"`)} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${at('le="+Inf"')} ${s.count}`);
      lines.push(k === '' ? `${this.name}_sum ${s.sum}` : `${this.name}_sum{${k}} ${s.sum}`);
      lines.push(k === '' ? `${this.name}_count ${s.count}` : `${this.name}_count{${k}} ${s.count}`);
    }
    return lines.join('\n');
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
  /** `bounds`: upper bucket bounds, ascending (`+Inf` is added). */
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const m = new Histogram(name, help, bounds);
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('\n') + '\n';
  }
}
