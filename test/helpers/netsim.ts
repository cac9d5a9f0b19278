/**
 * A user-space network simulator: a TCP proxy that listens on an address of its own and forwards
 * to a target, shaping each direction (this kernel has no netem). Put one between two nodes'
 * mesh ports, or between clients and a node.
 *
 * Per direction:
 * - `delayMs` one-way delay and `jitterMs` (uniform 0..jitter added per chunk; order is kept,
 *   as TCP keeps it: a chunk never overtakes the one before).
 * - `stallRate` / `stallMs`: loss as TCP shows it to the application. A lost segment is
 *   retransmitted, so the stream does not lose bytes; it stalls (head-of-line) for about a
 *   retransmission timeout. Each chunk has `stallRate` chance of holding the stream `stallMs`.
 * - `bytesPerSecond`: a bandwidth cap (the stream is paced to it).
 * - A bounded buffer (`maxBufferedBytes`): when the far side does not keep up, the proxy stops
 *   reading the near side, so the sender's own socket buffer fills, as with a full TCP window.
 *
 * `cut()` is a partition: bytes in flight are held, nothing is forwarded either way, and new
 * connections are accepted but never reach the target (SYN answered, then silence), so peers see
 * a link that went quiet, not one that was closed. `restore()` lets everything held go on, as TCP
 * retransmission does after a partition heals (connections the endpoints closed meanwhile are
 * gone). `reset()` instead closes every connection at once (an RST).
 */
import { once } from 'node:events';
import net from 'node:net';

export interface Shape {
  delayMs: number;
  jitterMs: number;
  stallRate: number;
  stallMs: number;
  /** 0: no cap. */
  bytesPerSecond: number;
}

export const NO_SHAPE: Shape = { delayMs: 0, jitterMs: 0, stallRate: 0, stallMs: 200, bytesPerSecond: 0 };

const MAX_BUFFERED_BYTES = 1024 * 1024;

/** One direction of one connection. */
class Pipe {
  private readonly queue: Array<{ chunk: Buffer; at: number }> = [];
  private queued = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private waitingDrain = false;
  private ended = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly link: LinkProxy,
    private readonly dir: 'forward' | 'back',
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => {
      this.ended = true;
      this.flush();
    });
    to.on('drain', () => {
      this.waitingDrain = false;
      this.flush();
    });
  }

  /** Bytes held in the proxy for this direction. */
  get buffered(): number {
    return this.queued;
  }

  private push(chunk: Buffer): void {
    const shape = this.link.shape(this.dir);
    const now = performance.now();
    let at = now + shape.delayMs + Math.random() * shape.jitterMs;
    if (shape.stallRate > 0 && Math.random() < shape.stallRate) at += shape.stallMs;
    if (shape.bytesPerSecond > 0) at = Math.max(at, this.lastAt + (chunk.length / shape.bytesPerSecond) * 1000);
    at = Math.max(at, this.lastAt);
    this.lastAt = at;
    this.queue.push({ chunk, at });
    this.queued += chunk.length;
    if (this.queued > this.link.maxBufferedBytes && !this.paused) {
      this.paused = true;
      this.from.pause();
    }
    this.flush();
  }

  /** Forwards what is due; called on data, on timers, on drain and on restore. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.link.isCut || this.waitingDrain || this.to.destroyed) return;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { chunk } = this.queue.shift()!;
      this.queued -= chunk.length;
      if (!this.to.write(chunk)) {
        this.waitingDrain = true;
        break;
      }
    }
    if (this.paused && this.queued <= this.link.maxBufferedBytes / 2) {
      this.paused = false;
      this.from.resume();
    }
    if (this.ended && this.queue.length === 0 && !this.waitingDrain) this.to.end();
    if (!this.waitingDrain && this.queue.length > 0) {
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.queue[0]!.at - now));
    }
  }

  /** After a cut, the held bytes are due at once (in order), then shaped again. */
  release(): void {
    const now = performance.now();
    for (const item of this.queue) item.at = Math.min(item.at, now);
    this.lastAt = Math.min(this.lastAt, now);
    this.flush();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.queued = 0;
  }
}

export interface LinkOptions {
  /** Address the proxy listens on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (default: any free port). */
  port?: number;
  target: { host: string; port: number };
  forward?: Partial<Shape>;
  back?: Partial<Shape>;
  maxBufferedBytes?: number;
}

/** One shaped link: everything that connects to `address` goes to `target`. */
export class LinkProxy {
  readonly maxBufferedBytes: number;
  private readonly server = net.createServer({ allowHalfOpen: true }, (s) => this.accept(s));
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket | null; pipes: Pipe[] }>();
  private shapes: { forward: Shape; back: Shape };
  private cutNow = false;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(private readonly options: LinkOptions) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    this.shapes = { forward: { ...NO_SHAPE, ...options.forward }, back: { ...NO_SHAPE, ...options.back } };
  }

  static async start(options: LinkOptions): Promise<LinkProxy> {
    const link = new LinkProxy(options);
    link.server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
    await once(link.server, 'listening');
    return link;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  /** `host:port` (IPv6 in brackets), as a mesh peer or a client URL takes it. */
  get address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  get isCut(): boolean {
    return this.cutNow;
  }

  /** Open connections through the link. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Bytes held in the proxy, both directions, all connections (bounded by 2 × maxBufferedBytes each). */
  get buffered(): number {
    let n = 0;
    for (const p of this.pairs) for (const pipe of p.pipes) n += pipe.buffered;
    return n;
  }

  shape(dir: 'forward' | 'back'): Shape {
    return this.shapes[dir];
  }

  /**
   * Changes the shaping of one or both directions. Bytes read from now on get the new shape;
   * bytes held are due at once (the backlog drains at the new capacity).
   */
  set(change: { forward?: Partial<Shape>; back?: Partial<Shape>; both?: Partial<Shape> }): void {
    this.shapes = {
      forward: { ...this.shapes.forward, ...change.both, ...change.forward },
      back: { ...this.shapes.back, ...change.both, ...change.back },
    };
    for (const p of this.pairs) for (const pipe of p.pipes) pipe.release();
  }

  cut(): void {
    this.cutNow = true;
  }

  restore(): void {
    this.cutNow = false;
    for (const p of this.pairs) {
      if (!p.upstream) this.connectUpstream(p);
      for (const pipe of p.pipes) pipe.release();
    }
  }

  /** Closes every connection through the link at once. */
  reset(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
  }

  async close(): Promise<void> {
    this.reset();
    const closed = once(this.server, 'close');
    this.server.close();
    await closed;
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    const pair = { client, upstream: null as net.Socket | null, pipes: [] as Pipe[] };
    this.pairs.add(pair);
    client.on('error', () => client.destroy()); // shows as close, handled below
    client.on('close', () => {
      pair.upstream?.destroy();
      for (const pipe of pair.pipes) pipe.stop();
      this.pairs.delete(pair);
    });
    if (this.cutNow)
      client.pause(); // held until restore(): the SYN got through, nothing else
    else this.connectUpstream(pair);
  }

  private connectUpstream(pair: { client: net.Socket; upstream: net.Socket | null; pipes: Pipe[] }): void {
    const upstream = net.connect({ ...this.options.target, allowHalfOpen: true });
    upstream.setNoDelay(true);
    pair.upstream = upstream;
    upstream.on('error', () => upstream.destroy());
    upstream.on('close', () => pair.client.destroy());
    pair.pipes.push(new Pipe(pair.client, upstream, this, 'forward'), new Pipe(upstream, pair.client, this, 'back'));
    pair.client.resume();
  }
}
