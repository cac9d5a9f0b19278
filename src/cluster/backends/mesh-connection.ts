/**
 * One TCP connection between two mesh nodes: the handshake, framing, liveness and backpressure.
 * Which connection of a pair carries traffic, and who wants which subject, is MeshBackend's
 * business: the connection reports to it through `ConnectionEvents`.
 *
 * States: `hello` (our HELLO sent) → `auth` (their HELLO read; the dialer has sent its AUTH)
 * → `ready` (the other side proved the secret; the acceptor has answered with its AUTH) →
 * `active` (carries this pair's traffic) → `closed`.
 *
 * Guarantees:
 * - Before the other side's proof is checked, only HELLO and AUTH are read, and only frames of
 *   at most 1 KiB: a stranger cannot make the node buffer anything.
 * - Any breach of the protocol (an oversized or malformed frame, a frame not allowed in the
 *   current state, a wrong secret) closes this connection with one log line, and nothing else.
 * - A connection not active within 5 s of opening, or silent for 15 s, is closed. An active
 *   connection sends a PING after 5 s without other traffic, so a live peer is never silent.
 * - Writes made in one tick leave in one system call (cork until the next tick).
 * - Backpressure: beyond MAX_BUFFERED_BYTES waiting in the socket, publications to this peer are
 *   dropped (at most once), with one warning when that starts and one line when it ends.
 *   Subscription changes are not dropped: they are skipped, and the whole interest set is sent
 *   again once the socket has drained (`drained`).
 */
import type net from 'node:net';
import type { Logger } from '../../log/logger.js';
import { targetOf } from '../peer-address.js';
import { encodeFrame, FrameError, FrameReader, FrameType, frameTypeName, type Frame } from './mesh-frames.js';
import {
  decodeHello,
  encodeHello,
  HandshakeError,
  negotiate,
  proof,
  verifyProof,
  type Hello,
  type Role,
} from './mesh-handshake.js';

export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
export const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
const HANDSHAKE_FRAME_BYTES = 1024;
const HANDSHAKE_TIMEOUT_MS = 5_000;
const PING_AFTER_MS = 5_000;
/** A connection on which nothing arrived for this long is closed (ConnectionOptions.silenceMs). */
const SILENCE_MS = 15_000;
const END_TIMEOUT_MS = 1_000;

export type ConnectionState = 'hello' | 'auth' | 'ready' | 'active' | 'closed';

/** Why a connection closed: the dialer's next move depends on it (mesh-dialer.ts). */
export type CloseCause =
  /** The other end is this very backend. */
  | 'self'
  /** The pair already has a connection. */
  | 'duplicate'
  /** Wrong secret, unsupported version or a protocol breach. */
  | 'rejected'
  /** Timed out, reset, or closed by the other side. */
  | 'lost'
  /** This backend is closing. */
  | 'shutdown';

export interface ConnectionEvents {
  /** The other side's HELLO arrived: a CloseCause closes the connection at once. */
  identified(conn: MeshConnection): CloseCause | null;
  /** The other side proved the secret. */
  authenticated(conn: MeshConnection): void;
  /** USE arrived: the other side made this the pair's connection. */
  use(conn: MeshConnection): void;
  /** RESET, SUB, UNSUB or MSG on the active connection. */
  frame(conn: MeshConnection, frame: Frame): void;
  /** Subscription changes were skipped under backpressure and the socket has drained. */
  drained(conn: MeshConnection): void;
  /**
   * The handshake failed (before the other side proved the secret): the connection closes
   * without logging, so that the caller can bound both the attempts and the log lines.
   */
  handshakeFailed(conn: MeshConnection, reason: string, code: string | undefined): void;
  closed(conn: MeshConnection): void;
}

export interface ConnectionOptions {
  role: Role;
  /** Our HELLO for this connection. */
  hello: Hello;
  secret: string;
  logger: Logger;
  events: ConnectionEvents;
  /** Nothing received for this long closes the connection (default SILENCE_MS; tests shorten it). */
  silenceMs?: number;
  /** No HELLO from the other side within this long closes the connection (HANDSHAKE_TIMEOUT); default none. */
  helloMs?: number;
}

export class MeshConnection {
  readonly role: Role;
  /** The other side's HELLO, once received. */
  theirs: Hello | null = null;
  cause: CloseCause = 'lost';
  /** The protocol version settled by the handshake (0 until then). */
  version = 0;
  /** Last measured round trip to the peer, in ms (version 2 connections; null until measured). */
  rttMs: number | null = null;
  private state: ConnectionState = 'hello';
  private everActive = false;
  private readonly reader = new FrameReader(HANDSHAKE_FRAME_BYTES);
  private openedAt = Date.now();
  private lastReceived = Date.now();
  private readonly silenceMs: number;
  private lastSent = Date.now();
  private corked = false;
  private backlog: { dropped: number; since: number; interestSkipped: boolean } | null = null;
  private endTimer: NodeJS.Timeout | null = null;
  private helloTimer: NodeJS.Timeout | null = null;
  private logger: Logger;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.role = options.role;
    this.logger = options.logger;
    this.silenceMs = options.silenceMs ?? SILENCE_MS;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('error', (err) => this.logger.debug('mesh connection error', { err }));
    socket.on('close', this.onClose);
    this.write(encodeFrame(FrameType.HELLO, '', encodeHello(options.hello)));
    const helloMs = options.helloMs;
    if (helloMs !== undefined) {
      this.helloTimer = setTimeout(() => {
        if (this.theirs === null)
          this.fail('lost', `no HELLO within ${helloMs} ms; closing the connection`, 'HANDSHAKE_TIMEOUT');
      }, helloMs);
      this.helloTimer.unref();
    }
  }

  /** `address:port` of the other end (IPv6 in brackets), for logs. */
  get remote(): string {
    return targetOf(this.socket.remoteAddress ?? 'unknown', this.socket.remotePort ?? 0).key;
  }

  get peerId(): string | undefined {
    return this.theirs?.id;
  }

  /** True once this connection has carried the pair's traffic. */
  get wasActive(): boolean {
    return this.everActive;
  }

  /** Makes this the pair's connection: traffic frames are accepted and may be sent. */
  activate(): void {
    if (this.state !== 'ready') return;
    this.state = 'active';
    this.everActive = true;
  }

  /** Sends a frame as is (handshake, USE, PING). */
  send(frame: Buffer): void {
    this.write(frame);
  }

  /** Sends a publication, or drops it while the socket holds more than MAX_BUFFERED_BYTES. */
  publish(frame: Buffer): void {
    if (this.state !== 'active') return;
    if (this.backlog || this.socket.writableLength > MAX_BUFFERED_BYTES) {
      this.overloaded().dropped++;
      return;
    }
    this.write(frame);
  }

  /** Sends a subscription change; under backpressure, the whole set is resent after the drain. */
  control(frame: Buffer): void {
    if (this.state !== 'active') return;
    if (this.backlog) this.backlog.interestSkipped = true;
    else this.write(frame);
  }

  /** Sends every subject this node subscribes to: RESET, then one SUB each, in one write. */
  sendInterest(subjects: Iterable<string>): void {
    const frames = [encodeFrame(FrameType.RESET)];
    for (const s of subjects) frames.push(encodeFrame(FrameType.SUB, s));
    this.write(Buffer.concat(frames));
  }

  /**
   * This process was blocked for `ms` (the tick fired that late): what the peer sent meanwhile
   * waits unread in the socket, so that time does not count as the peer's silence, nor against
   * the handshake's deadline.
   */
  excuse(ms: number, now: number): void {
    this.lastReceived = Math.min(now, this.lastReceived + ms);
    this.openedAt = Math.min(now, this.openedAt + ms);
  }

  /** Timeouts and keep-alive; called about once a second. */
  tick(now: number): void {
    if (this.state === 'closed') return;
    if (this.state !== 'active' && now - this.openedAt > HANDSHAKE_TIMEOUT_MS) {
      this.fail(
        'lost',
        `mesh connection not established within ${HANDSHAKE_TIMEOUT_MS} ms; closing it`,
        'HANDSHAKE_TIMEOUT',
      );
    } else if (now - this.lastReceived > this.silenceMs) {
      this.fail('lost', `mesh peer silent for ${this.silenceMs} ms; closing the connection`);
    } else if (this.state === 'active' && this.version >= 2) {
      const clock = Buffer.allocUnsafe(8);
      clock.writeDoubleBE(performance.now());
      this.write(encodeFrame(FrameType.PING, '', clock));
    } else if (this.state === 'active' && now - this.lastSent >= PING_AFTER_MS) {
      this.write(encodeFrame(FrameType.PING));
    }
  }

  /** Closes after what was written has been sent (destroyed if that takes over 1 s). */
  end(cause: CloseCause): void {
    if (this.state === 'closed' || this.endTimer) return;
    this.cause = cause;
    this.uncork();
    this.state = 'closed'; // nothing more is read or written
    this.socket.end();
    this.endTimer = setTimeout(() => this.socket.destroy(), END_TIMEOUT_MS);
    this.endTimer.unref();
  }

  /** Closes at once. */
  destroy(cause: CloseCause): void {
    if (this.socket.destroyed) return;
    this.state = 'closed';
    this.cause = cause;
    this.socket.destroy();
  }

  private write(frame: Buffer): void {
    if (this.state === 'closed' || !this.socket.writable) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.lastSent = Date.now();
    this.socket.write(frame);
  }

  private readonly uncork = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  };

  private overloaded(): NonNullable<MeshConnection['backlog']> {
    if (this.backlog) return this.backlog;
    const backlog = { dropped: 0, since: Date.now(), interestSkipped: false };
    this.backlog = backlog;
    this.logger.warn('mesh peer is not keeping up: dropping publications to it until its socket drains', {
      bufferedBytes: this.socket.writableLength,
    });
    this.socket.once('drain', () => {
      this.backlog = null;
      this.logger.info('mesh peer caught up', { dropped: backlog.dropped, ms: Date.now() - backlog.since });
      if (backlog.interestSkipped) this.options.events.drained(this);
    });
    return backlog;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastReceived = Date.now();
    this.reader.push(chunk);
    try {
      for (let frame = this.reader.next(); frame; frame = this.state === 'closed' ? null : this.reader.next()) {
        this.handle(frame);
      }
    } catch (err) {
      if (!(err instanceof FrameError || err instanceof HandshakeError)) throw err;
      this.fail('rejected', `closing mesh connection: ${err.message}`, err.code);
    }
  };

  private handle(frame: Frame): void {
    const { events } = this.options;
    switch (this.state) {
      case 'hello': {
        this.expect(frame, FrameType.HELLO);
        this.theirs = decodeHello(frame.payload);
        this.logger = this.logger.child({ peer: this.theirs.id });
        this.version = negotiate(this.options.hello, this.theirs);
        const cause = events.identified(this);
        if (cause) {
          this.end(cause);
          return;
        }
        // The dialer proves itself first; the acceptor answers only a dialer that did.
        if (this.role === 'dialer') this.sendProof();
        this.state = 'auth';
        return;
      }
      case 'auth': {
        this.expect(frame, FrameType.AUTH);
        const theirRole: Role = this.role === 'dialer' ? 'acceptor' : 'dialer';
        verifyProof(this.options.secret, theirRole, this.theirs!, this.options.hello, frame.payload);
        if (this.role === 'acceptor') this.sendProof();
        this.state = 'ready';
        this.reader.maxFrameBytes = MAX_FRAME_BYTES;
        events.authenticated(this);
        return;
      }
      case 'ready':
        if (this.keepAlive(frame)) return;
        this.expect(frame, FrameType.USE);
        events.use(this);
        return;
      case 'active':
        if (this.keepAlive(frame)) return;
        if (frame.type < FrameType.RESET || frame.type > FrameType.MSG) this.expect(frame, FrameType.MSG);
        events.frame(this, frame);
        return;
      case 'closed':
        return;
    }
  }

  /** PING (answered with PONG from version 2) or PONG (a round trip measured); false for any other frame. */
  private keepAlive(frame: Frame): boolean {
    if (frame.type === FrameType.PING) {
      if (this.version >= 2 && frame.payload.length === 8) this.write(encodeFrame(FrameType.PONG, '', frame.payload));
      return true;
    }
    if (frame.type !== FrameType.PONG || this.version < 2) return false;
    if (frame.payload.length !== 8)
      throw new FrameError('FRAME_MALFORMED', `PONG of ${frame.payload.length} bytes (expected 8)`);
    const rtt = performance.now() - frame.payload.readDoubleBE(0);
    if (rtt >= 0 && rtt < this.silenceMs) this.rttMs = rtt;
    return true;
  }

  private sendProof(): void {
    this.write(
      encodeFrame(FrameType.AUTH, '', proof(this.options.secret, this.role, this.options.hello, this.theirs!)),
    );
  }

  private expect(frame: Frame, type: number): void {
    if (frame.type !== type) {
      throw new FrameError('FRAME_MALFORMED', `unexpected ${frameTypeName(frame.type)} frame in state ${this.state}`);
    }
  }

  /** Closes at once: a failed handshake (reported, not logged) or a protocol breach (logged). */
  private fail(cause: CloseCause, msg: string, code?: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'hello' || this.state === 'auth') {
      this.options.events.handshakeFailed(this, code ? `${msg} (${code})` : msg, code);
    } else {
      this.logger.warn(msg, { remote: this.remote, role: this.role, ...(code ? { code } : {}) });
    }
    this.destroy(cause);
  }

  private readonly onClose = (): void => {
    this.state = 'closed';
    if (this.endTimer) clearTimeout(this.endTimer);
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.options.events.closed(this);
  };
}
