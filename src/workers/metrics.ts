/**
 * `/metrics` on a node with several workers. A scrape reaches whichever worker the kernel picks,
 * so that worker asks the supervisor, which asks every worker for its exposition text and merges
 * them: every series gains a `worker` label (sum by app to get the node's totals), each family
 * keeps one HELP/TYPE header. A worker that does not answer within the timeout is left out (the
 * scrape still succeeds); without a supervisor the worker answers with its own numbers.
 *
 * Messages (over node:cluster's IPC channel):
 *   worker → supervisor  { type: 'wiremesh:metrics-gather', id }
 *   supervisor → worker  { type: 'wiremesh:metrics-render', id }   → { type: 'wiremesh:metrics-text', id, text }
 *   supervisor → worker  { type: 'wiremesh:metrics-result', id, text }
 */
import type { Worker } from 'node:cluster';

export const GATHER_TIMEOUT_MS = 1_000;

type Msg =
  | { type: 'wiremesh:metrics-gather'; id: number }
  | { type: 'wiremesh:metrics-render'; id: number }
  | { type: 'wiremesh:metrics-text'; id: number; text: string }
  | { type: 'wiremesh:metrics-result'; id: number; text: string };

/** Merges the exposition texts of the workers (index → text) into one, labelling each series. */
export function mergeExpositions(texts: ReadonlyMap<number, string>): string {
  const families = new Map<string, { header: string[]; samples: string[] }>();
  for (const [worker, text] of [...texts].sort((a, b) => a[0] - b[0])) {
    let current: { header: string[]; samples: string[] } | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const header = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (header) {
        const name = header[2]!;
        let family = families.get(name);
        if (!family) families.set(name, (family = { header: [], samples: [] }));
        if (!family.header.some((h) => h.startsWith(`# ${header[1]} `))) family.header.push(line);
        current = family;
        continue;
      }
      if (line.startsWith('#')) continue;
      const sample = /^([^{\s]+)(?:\{(.*)\})? (.*)$/.exec(line);
      if (!sample || !current) continue;
      const labels = sample[2] ? `${sample[2]},worker="${worker}"` : `worker="${worker}"`;
      current.samples.push(`${sample[1]}{${labels}} ${sample[3]}`);
    }
  }
  const out: string[] = [];
  for (const family of families.values()) out.push(...family.header, ...family.samples);
  return out.join('\n') + '\n';
}

/**
 * Worker side: answers the supervisor's render requests with `render()`, and returns what
 * `/metrics` should serve: the node's merged text (this worker's own, labelled, if the
 * supervisor does not answer in time).
 */
export function workerMetrics(index: number, render: () => string): () => Promise<string> {
  const pending = new Map<number, (text: string) => void>();
  let next = 0;
  process.on('message', (msg: Msg) => {
    if (msg?.type === 'wiremesh:metrics-render') {
      process.send?.({ type: 'wiremesh:metrics-text', id: msg.id, text: render() } satisfies Msg);
    } else if (msg?.type === 'wiremesh:metrics-result') {
      pending.get(msg.id)?.(msg.text);
    }
  });
  return () =>
    new Promise<string>((resolve) => {
      const id = next++;
      const alone = (): string => mergeExpositions(new Map([[index, render()]]));
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(alone());
      }, GATHER_TIMEOUT_MS * 2);
      pending.set(id, (text) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(text);
      });
      if (!process.send?.({ type: 'wiremesh:metrics-gather', id } satisfies Msg)) {
        clearTimeout(timer);
        pending.delete(id);
        resolve(alone());
      }
    });
}

let renderSeq = 0;

/** Supervisor side: serves `metrics-gather` from any worker by asking all of `workers()`. */
export function superviseMetrics(worker: Worker, workers: () => ReadonlyArray<[number, Worker]>): void {
  worker.on('message', (msg: Msg) => {
    if (msg?.type !== 'wiremesh:metrics-gather') return;
    const asked = workers().filter(([, w]) => w.isConnected());
    const texts = new Map<number, string>();
    let done = false;
    const listeners: Array<() => void> = [];
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const off of listeners) off();
      if (worker.isConnected())
        worker.send({ type: 'wiremesh:metrics-result', id: msg.id, text: mergeExpositions(texts) } satisfies Msg);
    };
    const timer = setTimeout(finish, GATHER_TIMEOUT_MS);
    const id = renderSeq++;
    for (const [index, w] of asked) {
      const onText = (reply: Msg): void => {
        if (reply?.type !== 'wiremesh:metrics-text' || reply.id !== id || texts.has(index)) return;
        texts.set(index, reply.text);
        if (texts.size === asked.length) finish();
      };
      w.on('message', onText);
      listeners.push(() => w.off('message', onText));
      w.send({ type: 'wiremesh:metrics-render', id } satisfies Msg);
    }
    if (asked.length === 0) finish();
  });
}
