/**
 * `workers` > 1: this process only supervises. It forks the workers (node:cluster, each one
 * re-running the CLI with the same arguments), restarts one that dies, and on SIGTERM/SIGINT asks
 * every worker to shut down gracefully and exits once they all have. It serves nothing itself and
 * is not a cluster member: the workers are ordinary nodes (worker-config.ts), so a restarted
 * worker rejoins like any node, and its clients reconnect to its siblings meanwhile.
 *
 * - A worker that exits before it is listening during the first start (bad port, broker
 *   refusing credentials…) stops everything with exit code 1: a configuration error is not
 *   retried forever.
 * - Later deaths are restarted after 1 s, doubling to 30 s while a worker keeps dying within 10 s
 *   of its start.
 * - A second signal kills the workers at once and exits 1.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { superviseMetrics } from './metrics.js';

export const WORKER_INDEX_ENV = 'WIREMESH_WORKER_INDEX';
export const WORKER_SECRET_ENV = 'WIREMESH_WORKER_SECRET';

/** What a worker tells the supervisor over the IPC channel. */
export interface WorkerReady {
  type: 'wiremesh:ready';
  port: number;
}

const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 30_000;
const SHORT_LIFE_MS = 10_000;

interface Slot {
  index: number;
  worker: Worker | null;
  ready: boolean;
  startedAt: number;
  restartDelayMs: number;
  timer: NodeJS.Timeout | null;
}

/** Resolves with the process exit code once every worker has exited. */
export function supervise(count: number, logger: Logger): Promise<number> {
  const secret = randomBytes(24).toString('base64url');
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    worker: null,
    ready: false,
    startedAt: 0,
    restartDelayMs: RESTART_MIN_MS,
    timer: null,
  }));
  let starting = true;
  let stopping = false;
  let failed = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  const fork = (slot: Slot): void => {
    slot.timer = null;
    slot.ready = false;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(slot.index), [WORKER_SECRET_ENV]: secret });
    slot.worker = worker;
    worker.on('message', (msg: unknown) => {
      if ((msg as WorkerReady | null)?.type !== 'wiremesh:ready') return;
      slot.ready = true;
      if (!starting) logger.info('worker restarted', { worker: slot.index, pid: worker.process.pid });
      if (starting && slots.every((s) => s.ready)) {
        starting = false;
        logger.info('wiremesh workers listening', { workers: count, port: (msg as WorkerReady).port });
      }
    });
    worker.on('exit', (code, signal) => onExit(slot, worker, code, signal));
    superviseMetrics(worker, () =>
      slots.flatMap((s) => (s.worker && s.ready ? [[s.index, s.worker] as [number, Worker]] : [])),
    );
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker !== worker) return;
    slot.worker = null;
    if (stopping) {
      // A worker stopped before it was listening (a restart in progress) has nothing to drain.
      if (code !== 0 && slot.ready) failed = true;
      if (slots.every((s) => s.worker === null)) resolveDone(failed ? 1 : 0);
      return;
    }
    if (starting && !slot.ready) {
      logger.error('worker failed to start; stopping', { worker: slot.index, code, signal });
      failed = true;
      stop('SIGTERM');
      return;
    }
    const lived = Date.now() - slot.startedAt;
    const delay = lived < SHORT_LIFE_MS ? slot.restartDelayMs : RESTART_MIN_MS;
    slot.restartDelayMs = lived < SHORT_LIFE_MS ? Math.min(delay * 2, RESTART_MAX_MS) : RESTART_MIN_MS;
    logger.error('worker exited; restarting', { worker: slot.index, code, signal, restartInMs: delay });
    slot.timer = setTimeout(() => fork(slot), delay);
  };

  const stop = (signal: NodeJS.Signals): void => {
    stopping = true;
    for (const slot of slots) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = null;
      slot.worker?.process.kill(signal);
    }
    if (slots.every((s) => s.worker === null)) resolveDone(failed ? 1 : 0);
  };

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn('second signal: killing the workers', { signal });
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
      resolveDone(1);
      return;
    }
    logger.info('signal received; stopping the workers', { signal });
    stop('SIGTERM');
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  logger.info('starting workers', { workers: count });
  for (const slot of slots) fork(slot);
  return done;
}
