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

export abstract class Metric {
  protected readonly values = new Map<string, number>();
  /** The labels of each key in `values`, recorded once when the key first appears (for `sumBy`). */
  protected readonly labelSets = new Map<string, Labels>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}

  protected remember(k: string, labels: Labels): void {
    if (!this.labelSets.has(k)) this.labelSets.set(k, { ...labels });
  }

  /** Totals grouped by one label's value (e.g. per `app`), summed over every other label; `where` filters series. */
  sumBy(label: string, where?: (labels: Readonly<Labels>) => boolean): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.values) {
      const labels = this.labelSets.get(k) ?? {};
      if (where && !where(labels)) continue;
      const key = labels[label] ?? '';
      out[key] = (out[key] ?? 0) + v;
    }
    return out;
  }

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
    const v = this.values.get(k);
    if (v === undefined) this.remember(k, labels);
    this.values.set(k, (v ?? 0) + by);
  }
}

export class Gauge extends Metric {
  private readonly collectors: Array<(set: (labels: Labels, v: number) => void) => void> = [];
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(labels: Labels, v: number): void {
    const k = labelKey(labels);
    if (!this.values.has(k)) this.remember(k, labels);
    this.values.set(k, v);
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    const v = this.values.get(k);
    if (v === undefined) this.remember(k, labels);
    this.values.set(k, (v ?? 0) + by);
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
    this.refresh();
    return super.render();
  }
  override sumBy(label: string, where?: (labels: Readonly<Labels>) => boolean): Record<string, number> {
    this.refresh();
    return super.sumBy(label, where);
  }
  private refresh(): void {
    if (this.collectors.length === 0) return;
    this.values.clear();
    for (const c of this.collectors) c((labels, v) => this.set(labels, v));
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
    if (!s) {
      this.series.set(k, (s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
      this.remember(k, labels);
    }
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) s.buckets[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
  /** Observation count and sum grouped by one label's value. */
  statsBy(label: string): Record<string, { count: number; sum: number }> {
    const out: Record<string, { count: number; sum: number }> = {};
    for (const [k, s] of this.series) {
      const key = this.labelSets.get(k)?.[label] ?? '';
      const o = (out[key] ??= { count: 0, sum: 0 });
      o.count += s.count;
      o.sum += s.sum;
    }
    return out;
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

/**
 * Another metric's series under a second name, with its labels renamed and others dropped (summed
 * away): Soketi's names next to wiremesh's own, computed at scrape time, nothing on the hot path.
 */
class Alias {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly type: 'counter' | 'gauge',
    private readonly source: Metric,
    private readonly label: string,
    private readonly as: string,
    private readonly extra: Labels,
  ) {}
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [value, v] of Object.entries(this.source.sumBy(this.label))) {
      lines.push(`${this.name}{${renderLabels({ [this.as]: value, ...this.extra })}} ${v}`);
    }
    return lines.join('\n');
  }
}

/** Text rendered at scrape time by someone else (Node's process metrics). */
interface Section {
  render(): string;
}

export class MetricsRegistry {
  private readonly metrics: Section[] = [];
  /** Soketi-compatible copy of `source` summed by `label` (renamed `as`), with constant `extra` labels. */
  alias(
    name: string,
    help: string,
    type: 'counter' | 'gauge',
    source: Metric,
    label: string,
    as: string,
    extra: Labels = {},
  ): void {
    this.metrics.push(new Alias(name, help, type, source, label, as, extra));
  }
  /** A block of exposition text produced by `render` at every scrape. */
  section(render: () => string): void {
    this.metrics.push({ render });
  }
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
    return (
      this.metrics
        .map((m) => m.render())
        .filter((t) => t !== '')
        .join('\n') + '\n'
    );
  }
}
