/**
 * What the fuzz and backpressure tests watch besides the wire: uncaught exceptions and unhandled
 * rejections in this process (where the server runs), the server's error-level log lines, the heap
 * after a forced GC, and the server's own gauges on /metrics.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { TestServer } from './server.js';

/** A forced full GC; `--expose-gc` is switched on at run time, so the plain `node --test` command works. */
export function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
}

export function heapAfterGc(): { heapUsed: number; external: number; rss: number } {
  collectGarbage();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, rss: m.rss };
}

export const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Records process-level failures while installed. */
export class ProcessWatch {
  readonly failures: string[] = [];
  private readonly onException = (err: unknown): void => {
    this.failures.push(`uncaughtException: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  };
  private readonly onRejection = (reason: unknown): void => {
    this.failures.push(
      `unhandledRejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
    );
  };

  constructor() {
    process.on('uncaughtException', this.onException);
    process.on('unhandledRejection', this.onRejection);
  }

  dispose(): void {
    process.off('uncaughtException', this.onException);
    process.off('unhandledRejection', this.onRejection);
  }
}

/**
 * Drains the server's in-memory log (which would otherwise grow with every refused frame and skew
 * the heap measurement), keeping the error-level lines.
 */
export class LogWatch {
  readonly errors: string[] = [];
  /** Lines matching `watch` (the first 20). */
  readonly matched: string[] = [];
  lines = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly srv: TestServer,
    private readonly watch?: RegExp,
  ) {
    this.timer = setInterval(() => this.drain(), 100);
  }

  drain(): void {
    const logs = this.srv.logs.splice(0);
    this.lines += logs.length;
    for (const line of logs) {
      if (line.startsWith('{"level":50,') && this.errors.length < 20) this.errors.push(line.slice(0, 600));
      if (this.watch?.test(line) && this.matched.length < 20) this.matched.push(line.slice(0, 600));
    }
  }

  dispose(): void {
    clearInterval(this.timer);
    this.drain();
  }
}

/** Sum of a metric's samples on /metrics whose labels contain `labelFilter` (all samples when omitted). */
export async function metric(port: number, name: string, labelFilter = ''): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
