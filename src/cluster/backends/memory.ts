/**
 * In-process backend: several nodes in one process share a `MemoryBus`. Used for fast multi-node
 * tests and as the reference implementation of the backend contract. Delivery is asynchronous
 * (next microtask batch) and FIFO per publisher, like a real broker.
 */
import type { BackendHandler, ClusterBackend } from './types.js';

export class MemoryBus {
  private readonly members = new Set<MemoryBackend>();
  private down = false;

  join(b: MemoryBackend): void {
    this.members.add(b);
  }
  leave(b: MemoryBackend): void {
    this.members.delete(b);
  }

  /** Simulates a broker outage: while down, publishes are lost and members see the connection drop. */
  setDown(down: boolean): void {
    if (this.down === down) return;
    this.down = down;
    for (const m of this.members) m.connectionChanged(!down);
  }

  deliver(subject: string, payload: Buffer): void {
    if (this.down) return;
    for (const m of this.members) m.receive(subject, payload);
  }
}

export class MemoryBackend implements ClusterBackend {
  readonly name = 'memory';
  private handler: BackendHandler | null = null;
  private readonly subjects = new Set<string>();
  private readonly queue: Array<[string, Buffer]> = [];
  private scheduled = false;

  constructor(private readonly bus: MemoryBus = new MemoryBus()) {}

  async connect(handler: BackendHandler): Promise<void> {
    this.handler = handler;
    this.bus.join(this);
  }

  publish(subject: string, payload: Buffer): void {
    this.bus.deliver(subject, payload);
  }

  subscribe(subject: string): void {
    this.subjects.add(subject);
  }

  unsubscribe(subject: string): void {
    this.subjects.delete(subject);
  }

  receive(subject: string, payload: Buffer): void {
    if (!this.handler || !this.subjects.has(subject)) return;
    this.queue.push([subject, payload]);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.queue.splice(0);
      for (const [s, p] of batch) this.handler?.message(s, p);
    });
  }

  connectionChanged(up: boolean): void {
    this.handler?.connectionChanged(up);
  }

  async close(): Promise<void> {
    this.bus.leave(this);
    this.handler = null;
  }
}
