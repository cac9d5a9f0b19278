/**
 * One tunnelled request of one connection, from its frame to the end of its upstream exchange:
 * the deadline, the frames it may still send (none after `wiremesh:abort`; the failure reply even
 * after the deadline), waiting for room on a slow socket, and the one place a failure after the
 * request may have run becomes a frame (builders in replies.ts). Given everything it needs at
 * construction; reports nothing back but the Fallback `run` resolves to.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LivewireConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Counter, Histogram } from '../metrics/registry.js';
import * as frames from '../protocol/frames.js';
import type { WsSocket } from '../transport/types.js';
import type { AppUpstreams } from '../upstreams/upstreams.js';
import type { HeldRequest, TunnelConnection } from './connection-state.js';
import type { ByteBudget } from './budget.js';
import { runExchange, type ExchangeOutput } from './exchange.js';
import { failureChunk, failureResponse, UpstreamFailure } from './replies.js';
import { Fallback, type TunnelRequest } from './request.js';

export interface TunnelMetrics {
  requests: Pick<Counter, 'inc'>;
  fallbacks: Pick<Counter, 'inc'>;
  latency: Pick<Histogram, 'observe'>;
}

export interface FlightDeps {
  appId: string;
  request: TunnelRequest;
  /** The connection's jar and headers; `page` is its page (never null for a request that runs). */
  connection: Pick<TunnelConnection, 'jar' | 'headers'>;
  page: URL;
  socket: Pick<WsSocket, 'send' | 'bufferedAmount'>;
  config: LivewireConfig;
  upstreams: AppUpstreams;
  /** Response bytes this request may hold in memory (shared with the connection's other requests). */
  budget: ByteBudget;
  /** Largest text in one frame. */
  frameChars: number;
  /** Bytes queued on the socket above which frames wait for it to drain. */
  roomBytes: number;
  metrics: TunnelMetrics;
  /** With the app, socket and client in its context. */
  logger: Logger;
  now: () => number;
}

export class Flight implements HeldRequest {
  /** Aborts the upstream request (connection closed, deadline, a socket that refused a frame). */
  private readonly controller = new AbortController();
  /** False after `wiremesh:abort` or a close: no frame goes out. */
  private wanted = true;
  private responded = false;
  private readonly startedAt: number;

  constructor(private readonly deps: FlightDeps) {
    this.startedAt = deps.now();
  }

  abandon(): void {
    this.wanted = false;
  }

  cancel(): void {
    this.wanted = false;
    this.controller.abort();
  }

  /**
   * Runs the exchange to its end, by `deadlineMs`. Never rejects: whatever goes wrong is answered
   * on the socket, except a Fallback before any response, which it resolves to (the caller sends it).
   */
  async run(): Promise<Fallback | undefined> {
    const { config, request: req, logger } = this.deps;
    const deadline = setTimeout(() => {
      this.controller.abort(
        new UpstreamFailure(
          504,
          'The backend did not answer in time',
          `the exchange ran past deadlineMs (${config.deadlineMs})`,
        ),
      );
    }, config.deadlineMs);
    try {
      await runExchange(
        { config, upstreams: this.deps.upstreams, logger },
        {
          request: req,
          jar: this.deps.connection.jar,
          page: this.deps.page,
          headers: this.deps.connection.headers,
          signal: this.controller.signal,
          frameChars: this.deps.frameChars,
          budget: this.deps.budget,
          out: this.output(),
        },
      );
    } catch (err) {
      if (!this.wanted) return undefined;
      if (err instanceof Fallback && !this.responded) return err;
      logger.error('livewire exchange failed', { id: req.id, path: req.pathname, err });
      this.fail(new UpstreamFailure(502, 'Tunnel error'), new URL(req.path, this.deps.page).href, []);
    } finally {
      clearTimeout(deadline);
    }
    return undefined;
  }

  private output(): ExchangeOutput {
    const id = this.deps.request.id;
    return {
      response: (r) => {
        if (!this.wanted || this.responded) return false;
        this.responded = true;
        this.record(r.status);
        return this.send(frames.tunnelResponse({ id, ...r }));
      },
      chunk: (c) => this.wanted && this.send(frames.tunnelChunk({ id, ...c })),
      fail: (f, url, setCookies) => this.fail(f, url, setCookies),
      wanted: () => this.wanted,
      room: () => this.room(),
    };
  }

  /** The one place a failure after the request may have run becomes a frame. */
  private fail(f: UpstreamFailure, url: string, setCookies: readonly string[]): void {
    const out = this.output();
    if (this.responded) out.chunk(failureChunk(f));
    else out.response(failureResponse(f, url, setCookies));
  }

  private send(frame: string): boolean {
    if (!this.wanted) return false;
    if (this.deps.socket.send(frame) === 'sent') return true;
    this.cancel();
    return false;
  }

  private record(status: number): void {
    const { appId, request: req, metrics } = this.deps;
    const seconds = (this.deps.now() - this.startedAt) / 1000;
    metrics.requests.inc({ app: appId, status: String(status) });
    metrics.latency.observe({ app: appId }, seconds);
    this.deps.logger.debug('livewire request', {
      id: req.id,
      method: req.method,
      path: req.pathname,
      status,
      ms: seconds * 1000,
    });
  }

  /** Undefined when the socket's queue is within `roomBytes` (the common case), else waits for it. */
  private room(): Promise<void> | undefined {
    if (this.deps.socket.bufferedAmount() <= this.deps.roomBytes || this.controller.signal.aborted) return undefined;
    return this.waitForRoom();
  }

  /** Waits while the socket's queue is over `roomBytes`; gives up (aborting) after timeoutMs. */
  private async waitForRoom(): Promise<void> {
    const { socket, roomBytes, config, now } = this.deps;
    const deadline = now() + config.timeoutMs;
    while (socket.bufferedAmount() > roomBytes && !this.controller.signal.aborted) {
      if (now() > deadline) {
        this.deps.logger.warn('livewire client too slow to read a response; aborted', { limit: roomBytes });
        this.controller.abort();
        return;
      }
      await sleep(5);
    }
  }
}
