/**
 * A raw `ws` client speaking the Livewire tunnel protocol (docs/livewire-protocol.md), for tests
 * that set handshake headers (Cookie, Origin, X-Forwarded-For) or need the exact frames.
 */
import type { TunnelResponse } from '../../src/protocol/frames.js';
import WebSocket from 'ws';
import { APP } from './server.js';

export interface TunnelFrame {
  event: string;
  data?: unknown;
}

/** The `wiremesh:response` data, as the server defines it. */
export type ResponseData = TunnelResponse;

export interface ChunkData {
  id: string;
  chunk: string;
  done: boolean;
  error?: string;
}

export interface FallbackData {
  id: string;
  reason: string;
  code: string;
}

export interface RequestData {
  id: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export class TunnelSocket {
  readonly frames: TunnelFrame[] = [];
  /** Time (performance.now()) each frame arrived, same index as `frames`. */
  readonly times: number[] = [];
  socketId = '';
  private readonly ws: WebSocket;
  readonly closed: Promise<number>;

  private constructor(url: string, headers: Record<string, string>) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as TunnelFrame);
      this.times.push(performance.now());
    });
    this.closed = new Promise((resolve) => this.ws.on('close', (code) => resolve(code)));
  }

  static async open(port: number, headers: Record<string, string> = {}, key: string = APP.key): Promise<TunnelSocket> {
    const s = new TunnelSocket(`ws://127.0.0.1:${port}/app/${key}?protocol=7&client=js&version=8.4.0`, headers);
    const f = await s.next((x) => x.event === 'pusher:connection_established', 'connection_established');
    s.socketId = (JSON.parse(f.data as string) as { socket_id: string }).socket_id;
    return s;
  }

  send(event: string, data: unknown): void {
    this.ws.send(JSON.stringify({ event, data }));
  }

  request(data: RequestData): void {
    this.send('wiremesh:request', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-livewire': '' },
      body: '{}',
      ...data,
    });
  }

  abort(id: string): void {
    this.send('wiremesh:abort', { id });
  }

  close(): void {
    this.ws.close();
  }

  /** Stops reading from the TCP socket for `ms` (a slow client): the server's queue for it grows. */
  stall(ms: number): void {
    const tcp = (this.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    setTimeout(() => tcp.resume(), ms);
  }

  /** Frames of one request id, in order. */
  of(id: string): TunnelFrame[] {
    return this.frames.filter((f) => f.event.startsWith('wiremesh:') && (f.data as { id?: string }).id === id);
  }

  async next(pred: (f: TunnelFrame) => boolean, what: string, timeoutMs = 5_000): Promise<TunnelFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (Date.now() > deadline) {
        const last = this.frames.slice(-8).map((x) => JSON.stringify(x).slice(0, 160));
        throw new Error(`timed out waiting for ${what}; ${this.frames.length} frames, the last: ${last.join(' | ')}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The first answer to `id`: a response or a fallback frame. */
  async answer(id: string, timeoutMs?: number): Promise<TunnelFrame> {
    return this.next(
      (f) =>
        (f.event === 'wiremesh:response' || f.event === 'wiremesh:fallback') && (f.data as { id?: string }).id === id,
      `answer to ${id}`,
      timeoutMs,
    );
  }

  async fallback(id: string): Promise<FallbackData> {
    const f = await this.answer(id);
    if (f.event !== 'wiremesh:fallback')
      throw new Error(`expected a fallback for ${id}, got ${JSON.stringify(f).slice(0, 300)}`);
    return f.data as FallbackData;
  }

  /** The whole response to `id`: its first frame, with `body` the text of every frame up to done. */
  async response(id: string, timeoutMs = 5_000): Promise<ResponseData & { chunks: number; error?: string }> {
    const first = await this.answer(id, timeoutMs);
    if (first.event !== 'wiremesh:response')
      throw new Error(`expected a response for ${id}, got ${JSON.stringify(first).slice(0, 300)}`);
    const head = first.data as ResponseData;
    if (head.done) return { ...head, chunks: 0 };
    const last = await this.next(
      (f) => f.event === 'wiremesh:chunk' && (f.data as ChunkData).id === id && (f.data as ChunkData).done,
      `last chunk of ${id}`,
      timeoutMs,
    );
    const chunks = this.of(id)
      .filter((f) => f.event === 'wiremesh:chunk')
      .map((f) => f.data as ChunkData);
    const error = (last.data as ChunkData).error;
    return {
      ...head,
      body: head.body + chunks.map((c) => c.chunk).join(''),
      chunks: chunks.length,
      ...(error === undefined ? {} : { error }),
    };
  }

  /** Sends a ping and waits for its pong: the server has processed everything sent before. */
  async roundTrip(): Promise<void> {
    const before = this.frames.filter((f) => f.event === 'pusher:pong').length;
    this.send('pusher:ping', {});
    const deadline = Date.now() + 3_000;
    while (this.frames.filter((f) => f.event === 'pusher:pong').length === before) {
      if (Date.now() > deadline) throw new Error('no pong');
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
