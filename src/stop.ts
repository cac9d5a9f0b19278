/**
 * How a running node stops, in one sequence for every mode:
 * - `graceful`: stop being ready (/ready answers 503, new WebSockets get 4200), ask clients to
 *   reconnect spread over half the grace period, stop accepting, leave the cluster with a
 *   hand-off, flush webhooks, close.
 * - `immediate`: the same without draining or flushing (tests, a second signal).
 * - `crash`: as a crash would: no goodbye to the cluster, sockets cut (tests of failure handling).
 */
import type { StopMode } from './cluster/types.js';
import type { Logger } from './log/logger.js';

export interface Stoppable {
  /** Asks every client to reconnect, spread over `spreadMs`, waiting at most `deadlineMs`. */
  drain(spreadMs: number, deadlineMs: number): Promise<void>;
  stopAccepting(): Promise<void>;
  /** Stops the core's timers. */
  stopCore(): void;
  closeTunnel(): Promise<void>;
  leaveCluster(mode: StopMode): Promise<void>;
  flushWebhooks(deadlineMs: number): Promise<void>;
  closeWebhooks(): void;
  closeTransport(): Promise<void>;
  /** The dashboard's listener and Node's process metrics (their timer and GC observer). */
  closeObservability(): Promise<void>;
}

export async function stopNode(parts: Stoppable, mode: StopMode, graceMs: number, logger: Logger): Promise<void> {
  if (mode === 'graceful') {
    // While draining, the port stays open: /ready answers 503 so load balancers move on, the
    // HTTP API keeps serving publishers, and new WebSockets are refused with 4200 by the core.
    logger.info('shutting down: draining connections', { graceMs });
    await parts.drain(graceMs / 2, graceMs);
    await parts.stopAccepting();
  }
  parts.stopCore();
  await parts.closeTunnel();
  await parts.leaveCluster(mode);
  if (mode === 'graceful') await parts.flushWebhooks(Math.max(1_000, graceMs / 2));
  parts.closeWebhooks();
  await parts.closeTransport();
  await parts.closeObservability();
  if (mode === 'graceful') logger.info('shutdown complete');
}
