/**
 * Test helper for the shared transport suite: starts any Transport on port 0 with tiny hooks that
 * record what the core would see, and real `ws` / node:http clients. (Named `*.test.helper.*` so
 * `node --test` does not run it and the package does not ship it.)
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { createLogger, type Logger } from '../log/logger.js';
import type {
  HttpRequest,
  HttpResponse,
  Transport,
  TransportHooks,
  TransportOptions,
  UpgradeInfo,
  WsSocket,
} from './types.js';

export type MakeTransport = (options: TransportOptions, logger: Logger) => Transport;

export const OPTIONS: TransportOptions = {
  host: '127.0.0.1',
  port: 0,
  maxFrameBytes: 4096,
  maxRequestBodyBytes: 2048,
  maxBufferedBytes: 64 * 1024,
};

/** What the core would hold for one socket. */
export interface ServerSide {
  socket: WsSocket;
  info: UpgradeInfo;
  messages: string[];
  closed: { code: number; reason: string } | null;
}

export interface Client {
  ws: WebSocket;
  server: ServerSide;
  received: { text: string; isBinary: boolean }[];
  closed: Promise<{ code: number; reason: string }>;
}

export async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

/** Echoes the request as JSON; `/fail` throws. */
async function echo(req: HttpRequest): Promise<HttpResponse> {
  if (req.path === '/fail') throw new Error('handler failed on purpose');
  const { method, path, query, headers, remoteAddress } = req;
  return {
    status: req.path === '/created' ? 201 : 200,
    headers: { 'content-type': 'application/json', 'x-echo': 'yes' },
    body: JSON.stringify({ method, path, query, headers, remoteAddress, body: req.body.toString() }),
  };
}

export class Fixture {
  private readonly clients: WebSocket[] = [];
  private next = 0;

  private constructor(
    readonly transport: Transport,
    readonly port: number,
    /** Every socket the hooks were given, in order of opening. */
    readonly sockets: ServerSide[],
    /** Error log lines written by the transport. */
    readonly errors: string[],
  ) {}

  static async start(make: MakeTransport, options: Partial<TransportOptions> = {}): Promise<Fixture> {
    const errors: string[] = [];
    const logger = createLogger({ level: 'error', sink: (line) => errors.push(line) });
    const sockets: ServerSide[] = [];
    const hooks: TransportHooks = {
      openSocket(socket, info) {
        const side: ServerSide = { socket, info, messages: [], closed: null };
        sockets.push(side);
        // As the core does for an unknown app key: refuse from inside openSocket.
        if (info.path === '/refuse') socket.close(4001, 'App not found');
        // As the core does on open (connection_established).
        if (info.path === '/hello') socket.send('{"event":"hello"}');
        return {
          onMessage: (text) => side.messages.push(text),
          onClose: (code, reason) => {
            side.closed = { code, reason };
          },
        };
      },
      handleHttp: echo,
    };
    const transport = make({ ...OPTIONS, ...options }, logger);
    return new Fixture(transport, await transport.listen(hooks), sockets, errors);
  }

  /** Opens a real `ws` client and returns it with its server side. */
  async connect(path = '/app/key'): Promise<Client> {
    const id = `c${++this.next}`;
    const ws = new WebSocket(`ws://127.0.0.1:${this.port}${path}?protocol=7&id=${id}`);
    this.clients.push(ws);
    const received: Client['received'] = [];
    ws.on('message', (data, isBinary) => received.push({ text: String(data), isBinary }));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('error', () => {}); // closes are asserted through `closed`
    await until(() => this.sockets.some((s) => s.info.query.endsWith(`id=${id}`)), 'server saw the socket');
    const server = this.sockets.find((s) => s.info.query.endsWith(`id=${id}`))!;
    return { ws, server, received, closed };
  }

  async close(): Promise<void> {
    for (const ws of this.clients) ws.terminate();
    await this.transport.close();
  }
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
  localPort: number | undefined;
}

export async function request(
  port: number,
  opts: {
    method?: string;
    path?: string;
    /** Several parts are written 20 ms apart, so the server reads the body in several chunks. */
    body?: string | string[];
    agent?: http.Agent;
    headers?: Record<string, string>;
  } = {},
): Promise<HttpResult> {
  const req = http.request({
    host: '127.0.0.1',
    port,
    method: opts.method ?? 'GET',
    path: opts.path ?? '/',
    agent: opts.agent ?? false,
    headers: opts.headers,
  });
  const result = new Promise<HttpResult>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          reusedSocket: req.reusedSocket,
          localPort: req.socket?.localPort,
        }),
      );
    });
  });
  const parts = typeof opts.body === 'string' ? [opts.body] : (opts.body ?? []);
  if (parts.length > 1) req.setHeader('content-length', Buffer.byteLength(parts.join('')));
  for (const [i, part] of parts.entries()) {
    if (i > 0) await sleep(20);
    req.write(part);
  }
  req.end();
  return result;
}

/** Resolves with the error of a WebSocket that could not connect, or rejects if it connected. */
export async function refusedConnect(port: number): Promise<Error> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/key`);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('connected although the transport stopped accepting'));
    });
    ws.once('error', resolve);
  });
}
