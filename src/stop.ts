/**
 * How a running node stops, in one sequence for every mode, over the parts the composition root
 * lists in order (each with the hooks it needs):
 * - `graceful`: stop being ready (/ready answers 503, new WebSockets get 4200), then every part's
 *   `drain` in order (the core asks clients to reconnect spread over half the grace period, the
 *   transport stops accepting), then every part's `stop` in order (the cluster leaves with a
 *   hand-off, webhooks are flushed, listeners close).
 * - `immediate`: the same without draining or flushing (tests, a second signal).
 * - `crash`: as a crash would: no goodbye to the cluster, sockets cut (tests of failure handling).
 */
import type { StopMode } from './cluster/types.js';
import type { Logger } from './log/logger.js';

export interface Part {
  /** For log lines. */
  readonly name: string;
  /** Graceful stops only, before any part stops: let clients and work in flight go within `graceMs`. */
  drain?(graceMs: number): Promise<void>;
  /** Every mode, in list order: `graceful` may wait (flushing), bounded by `graceMs`. */
  stop?(mode: StopMode, graceMs: number): void | Promise<void>;
}

export async function stopNode(parts: readonly Part[], mode: StopMode, graceMs: number, logger: Logger): Promise<void> {
  if (mode === 'graceful') {
    // While draining, the port stays open: /ready answers 503 so load balancers move on, the
    // HTTP API keeps serving publishers, and new WebSockets are refused with 4200 by the core.
    logger.info('shutting down: draining connections', { graceMs });
    for (const part of parts) await part.drain?.(graceMs);
  }
  for (const part of parts) await part.stop?.(mode, graceMs);
  if (mode === 'graceful') logger.info('shutdown complete');
}

/** Whether this node serves (/ready): not while it starts, nor from the moment it stops. */
export class Readiness {
  private serving = false;

  get ready(): boolean {
    return this.serving;
  }

  /** Everything started: the node serves. */
  open(): void {
    this.serving = true;
  }

  /** The node stops: load balancers should move on. */
  close(): void {
    this.serving = false;
  }
}
