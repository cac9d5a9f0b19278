/**
 * Connection state shared by the broker backends: whether the broker is up, what the handler
 * was last told, delivery into the handler, and the outage log. An outage logs one warning when it starts and one info
 * line when it ends (with its length and the publishes dropped meanwhile), never one per retry.
 */
import type { LogContext, Logger } from '../../log/logger.js';
import type { BackendHandler } from './types.js';

export class Connectivity {
  /** Set by the backend's `connect()`; cleared by `close()`, which silences everything. */
  handler: BackendHandler | null = null;
  private state: 'connecting' | 'up' | 'down' = 'connecting';
  private outage: { since: number; dropped: number } | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly broker: string,
  ) {}

  get up(): boolean {
    return this.state === 'up';
  }

  /** The broker is unreachable: logs if this starts an outage; reports `false` if it was up. */
  down(ctx: LogContext = {}): void {
    if (!this.handler) return;
    if (!this.outage) {
      this.outage = { since: Date.now(), dropped: 0 };
      const msg =
        this.state === 'connecting'
          ? `${this.broker} unreachable; retrying`
          : `${this.broker} connection lost; reconnecting`;
      this.logger.warn(msg, ctx);
    }
    if (this.state !== 'up') return;
    this.state = 'down';
    this.handler.connectionChanged(false);
  }

  /** The broker is reachable again (or for the first time, which is not reported to the handler). */
  restored(ctx: LogContext = {}): void {
    if (!this.handler || this.state === 'up') return;
    const first = this.state === 'connecting';
    this.state = 'up';
    if (this.outage) {
      const { since, dropped } = this.outage;
      this.outage = null;
      this.logger.info(`${this.broker} connection ${first ? 'established' : 'restored'}`, {
        ...ctx,
        downMs: Date.now() - since,
        dropped,
      });
    }
    if (!first) this.handler.connectionChanged(true);
  }

  /**
   * Hands a message to the handler. A throwing handler is logged, never let into the client
   * library, whose protocol parser it could derail.
   */
  deliver(subject: string, payload: Buffer, peer?: string): void {
    try {
      this.handler?.message(subject, payload, peer);
    } catch (err) {
      this.logger.error('cluster message handler threw', { err, subject });
    }
  }

  /** A direct connection to `peer` closed (the mesh). */
  peerGone(peer: string): void {
    try {
      this.handler?.peerGone?.(peer);
    } catch (err) {
      this.logger.error('cluster peer handler threw', { err, peer });
    }
  }

  /** A publish was dropped because the broker is unreachable. */
  dropped(): void {
    if (this.outage) this.outage.dropped++;
  }

  /** True between `connect()` succeeding and `close()`. */
  get connected(): boolean {
    return this.handler !== null && this.state !== 'connecting';
  }
}
