/**
 * A raw WebSocket client (the `ws` package) for what the real clients hide: exact frames on the
 * wire, close codes, malformed input, a client that never answers pings.
 */
import WebSocket, { type ClientOptions } from 'ws';
import { APP } from './server.js';

export interface Frame {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

export interface Closed {
  code: number;
  reason: string;
}

export class RawClient {
  /** Every text frame received, parsed, in order. */
  readonly frames: Frame[] = [];
  /** Every text frame received, exactly as sent by the server. */
  readonly texts: string[] = [];
  readonly closed: Promise<Closed>;
  closedWith: Closed | null = null;
  private readonly ws: WebSocket;

  /** `options`: e.g. `localAddress: '127.0.0.2'` to connect from another loopback address. */
  constructor(url: string, options?: ClientOptions) {
    this.ws = options === undefined ? new WebSocket(url) : new WebSocket(url, options);
    this.ws.on('error', () => {}); // failures show up as the close code the tests assert
    this.ws.on('message', (data) => {
      const text = data.toString();
      this.texts.push(text);
      this.frames.push(JSON.parse(text) as Frame);
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
      });
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Resolves with the first frame received at index `from` or later (past or future) matching `pred`. */
  async next(pred: (f: Frame) => boolean, what = 'frame', timeoutMs = 3_000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.slice(from).find(pred);
      if (f) return f;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; got: ${this.texts.map((t) => t.slice(0, 200)).join(' | ')}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Waits for `pusher:connection_established` and returns the socket id. */
  async established(): Promise<string> {
    const f = await this.next((x) => x.event === 'pusher:connection_established', 'connection_established');
    return (JSON.parse(f.data as string) as { socket_id: string }).socket_id;
  }

  /** A `pusher:error` frame with `code`. */
  async error(code: number | null, what = `pusher:error ${code}`): Promise<{ code: number | null; message: string }> {
    const f = await this.next((x) => x.event === 'pusher:error' && errorData(x).code === code, what);
    return errorData(f);
  }

  /** Sends `pusher:ping` and waits for a new `pusher:pong`: everything sent before was processed. */
  async roundTrip(): Promise<void> {
    const before = this.frames.filter((f) => f.event === 'pusher:pong').length;
    this.send({ event: 'pusher:ping', data: {} });
    const deadline = Date.now() + 3_000;
    while (this.frames.filter((f) => f.event === 'pusher:pong').length <= before) {
      if (Date.now() > deadline) throw new Error('no pusher:pong');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async waitClosed(timeoutMs = 3_000): Promise<Closed> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

export function errorData(f: Frame): { code: number | null; message: string } {
  const d = typeof f.data === 'string' ? JSON.parse(f.data) : f.data;
  return d as { code: number | null; message: string };
}

/** `ws://127.0.0.1:{port}/app/{key}?protocol=7&client=js&version=8.6.0` unless `path` is given. */
export function appUrl(port: number, path = `/app/${APP.key}?protocol=7&client=js&version=8.6.0&flash=false`): string {
  return `ws://127.0.0.1:${port}${path}`;
}

/** Opens a raw client on the app path and waits for `connection_established`. */
export async function rawConnected(port: number): Promise<{ raw: RawClient; socketId: string }> {
  const raw = new RawClient(appUrl(port));
  const socketId = await raw.established();
  return { raw, socketId };
}

/** Subscribes a raw client and waits for `subscription_succeeded` (throws on a subscription error). */
export async function rawSubscribe(
  raw: RawClient,
  channel: string,
  auth?: string,
  channelData?: string,
): Promise<void> {
  const from = raw.frames.length;
  raw.send({
    event: 'pusher:subscribe',
    data: { channel, ...(auth ? { auth } : {}), ...(channelData ? { channel_data: channelData } : {}) },
  });
  const f = await raw.next(
    (x) =>
      x.channel === channel &&
      (x.event === 'pusher_internal:subscription_succeeded' || x.event === 'pusher:subscription_error'),
    `subscription to ${channel}`,
    3_000,
    from,
  );
  if (f.event === 'pusher:subscription_error')
    throw new Error(`subscription to ${channel} refused: ${JSON.stringify(f.data)}`);
}
