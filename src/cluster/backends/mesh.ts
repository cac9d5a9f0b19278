/**
 * Mesh backend: no broker and no primary. Every node listens on `cluster.mesh.port`, dials every
 * peer it knows (mesh-dialer.ts), and each pair of nodes keeps one TCP connection that carries
 * everything between them, both ways (mesh-connection.ts; wire format in mesh-frames.ts,
 * handshake in mesh-handshake.ts). Built only from node:net; loaded only when configured.
 *
 * Guarantees, beyond those of `ClusterBackend`:
 * - Forwarding by interest: a node tells each peer which subjects it subscribes to (SUB / UNSUB
 *   as they change, the whole set whenever a connection starts), and a publication is written
 *   only to the peers subscribed to its subject. A node never receives its own publications,
 *   nor traffic for subjects it does not serve. `unsubscribe()` takes effect at once: a message
 *   already on its way for a subject no longer subscribed is dropped on arrival.
 * - One connection per pair. When two nodes dialed each other (or a peer has several addresses),
 *   the one with the lower instance id, the pair's leader, keeps the first connection to finish
 *   the handshake, sends USE on it and closes the others; the other node sends nothing but the
 *   handshake until USE arrives. The connection in use never changes while it is open, so FIFO
 *   per publisher per subject holds: everything one node sends another goes down one stream.
 * - At most once: a publication to a peer not connected at that moment, or whose socket holds
 *   more than 64 MiB, is dropped; nothing is queued for later. A publication too large for one
 *   frame (16 MiB) is dropped with an error log, never sent.
 * - connectionChanged: the backend is up once it listens, and stays up. A peer that goes away is
 *   that peer's failure, not this node's, so it is never reported as `connectionChanged(false)`:
 *   the heartbeats of the layer above declare that peer down. (A node cut off from every peer
 *   declares them all down, as in Phoenix; when they meet again, heartbeats bring them back and
 *   presence resynchronises.) What it does report is `peerGone` when the connection in use to a
 *   peer closes (a crashed process's socket is closed by its kernel at once), and the peer each
 *   message came by, so the layer above counts that peer down now: the heartbeat timeout is left
 *   for hosts that fall silent without closing anything.
 * - `connect()` resolves once the port listens (peers are dialed in the background), and fails
 *   at once if it cannot listen.
 * - Versioned: the handshake settles the highest protocol version both ends speak (or refuses
 *   and logs a peer with none in common); nodes one version apart interoperate during a rolling
 *   deploy (mesh-handshake.ts). `status()` reports each peer's version and, from version 2, its
 *   measured round trip.
 * - Strangers are bounded (mesh-guard.ts): pre-auth connections are capped in total and per
 *   source (address, IPv6 /64), with slots kept for known peers (configured, from DNS, or that
 *   proved the secret before); a stranger must send HELLO within `helloMs`; a source that keeps
 *   failing the handshake (wrong proofs, malformed, timeouts) is locked out with a growing
 *   delay, and failures are logged once per episode per source, not once per attempt.
 * - `close()` stops listening and dialing, sends what was already written (for at most 1 s),
 *   closes every connection and clears every timer: the process can exit.
 */
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import net from 'node:net';
import type { Logger } from '../../log/logger.js';
import { blockedFor } from '../pause.js';
import { parsePeer, targetOf } from '../peer-address.js';
import { Connectivity } from './connectivity.js';
import { MAX_FRAME_BYTES, MeshConnection, type ConnectionEvents } from './mesh-connection.js';
import { Dialer, type DialOutcome, type DialTarget } from './mesh-dialer.js';
import { assertSubject, encodeFrame, frameBytes, FrameType, type Frame } from './mesh-frames.js';
import { DEFAULT_GUARD_LIMITS, PreAuthGuard, sourceOf, type GuardLimits } from './mesh-guard.js';
import { newHello, newInstanceId, type Role } from './mesh-handshake.js';
import type { BackendHandler, ClusterBackend } from './types.js';

export interface MeshBackendOptions {
  port: number;
  host: string;
  /** `host:port` of peers; this node's own address may be among them. */
  peers: string[];
  /** A name whose A/AAAA records are the peers (port: `port`). */
  dns?: string;
  /** Ports dialed on each address `dns` resolves to (default: `[port]`; a node's worker processes listen on several). */
  dnsPorts?: readonly number[];
  secret: string;
  /** Addresses taken from one DNS answer (default 64); the rest are ignored. */
  dnsMaxAddresses?: number;
  /** DNS servers asked directly for `dns` (A and AAAA); default: the system resolver. */
  dnsServers?: readonly string[];
  /** DNS answers (tests); default node:dns lookup, or `dnsServers`. */
  resolve?(name: string): Promise<string[]>;
  /** Protocol versions offered (tests play older and newer builds); default MIN_VERSION to MAX_VERSION. */
  versions?: { min: number; max: number };
  /** Bounds on unauthenticated connections (tests); default DEFAULT_GUARD_LIMITS. */
  guard?: Partial<GuardLimits>;
  /** Nothing received from a peer for this long closes its connection (default 15 s; tests shorten it). */
  silenceMs?: number;
}

export interface MeshStatus {
  id: string;
  /** The port listened on. */
  port: number;
  /**
   * Connected peers, by instance id; `role` is this node's side of the connection, `version` the
   * mesh protocol version it speaks, `rttMs` the last round trip measured (version 2), or null.
   */
  peers: Array<{ id: string; role: Role; version: number; rttMs: number | null }>;
  /** Open connections, connected or not yet. */
  connections: number;
  /** Connection attempts made so far. */
  dials: number;
  /** Incoming connections that have not proved the secret yet. */
  pending: number;
}

const TICK_MS = 1_000;

/**
 * A and AAAA records of a name, asked of `servers` directly. A family without records (NODATA)
 * adds nothing; any other failure (NXDOMAIN, timeout) rejects, so the dialer keeps its last answer.
 */
function resolverOf(servers: readonly string[]): (name: string) => Promise<string[]> {
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([...servers]);
  const none = (err: unknown): string[] => {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENODATA') return [];
    throw err;
  };
  return async (name) => {
    const [v4, v6] = await Promise.all([resolver.resolve4(name).catch(none), resolver.resolve6(name).catch(none)]);
    return [...v6, ...v4];
  };
}

interface Peer {
  conn: MeshConnection;
  /** Subjects the peer subscribes to. */
  interest: Set<string>;
}

export class MeshBackend implements ClusterBackend {
  readonly name = 'mesh';
  /** This instance's id in the handshake: random, new at every start. */
  readonly id = newInstanceId();
  private readonly logger: Logger;
  private readonly connectivity: Connectivity;
  private readonly subjects = new Set<string>();
  private readonly peers = new Map<string, Peer>();
  private readonly connections = new Set<MeshConnection>();
  /** Incoming connections still in the handshake, with the source they count against. */
  private readonly admitted = new Map<MeshConnection, { source: string; known: boolean }>();
  private readonly guard: PreAuthGuard;
  private readonly limits: GuardLimits;
  /** Sources of the configured peers given as addresses, and of every connection that proved the secret. */
  private readonly knownSources = new Set<string>();
  private server: net.Server | null = null;
  private dialer: Dialer | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private started = false;
  private closed = false;

  constructor(
    private readonly options: MeshBackendOptions,
    logger: Logger,
  ) {
    this.logger = logger.child({ backend: 'mesh', mesh: this.id });
    this.connectivity = new Connectivity(this.logger, 'mesh');
    this.limits = { ...DEFAULT_GUARD_LIMITS, ...options.guard };
    this.guard = new PreAuthGuard(this.logger, this.limits);
    for (const peer of options.peers) this.knownSources.add(sourceOf(parsePeer(peer).host));
  }

  async connect(handler: BackendHandler): Promise<void> {
    if (this.started || this.closed) throw new Error('MeshBackend.connect() may be called once, before close()');
    this.started = true;
    const { host, port, peers, dns, dnsPorts, dnsServers } = this.options;
    const resolve = this.options.resolve ?? (dnsServers ? resolverOf(dnsServers) : undefined);
    const server = net.createServer((socket) => this.accept(socket));
    try {
      // exclusive: in a worker process the port is this worker's own, not shared through node:cluster.
      server.listen({ port, host, exclusive: true });
      await once(server, 'listening');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new Error(`cannot listen on cluster.mesh.port ${port} (host ${host}): ${String(code ?? err)}`, {
        cause: err,
      });
    }
    server.on('error', (err) => this.logger.error('mesh server error', { err }));
    if (this.closed) {
      server.close();
      for (const conn of this.connections) conn.destroy('shutdown');
      throw new Error('MeshBackend closed while connecting');
    }
    this.server = server;
    this.connectivity.handler = handler;
    this.connectivity.restored();
    let due = performance.now() + TICK_MS;
    this.ticker = setInterval(() => {
      // A late tick: this process was blocked and the peers' pings wait unread (pause.ts).
      const late = blockedFor(due, TICK_MS);
      due = performance.now() + TICK_MS;
      const now = Date.now();
      for (const conn of this.connections) {
        if (late > 0) conn.excuse(late, now);
        conn.tick(now);
      }
      this.guard.tick();
    }, TICK_MS);
    this.ticker.unref();
    this.dialer = new Dialer({
      peers,
      ...(dns
        ? { dns: { name: dns, ports: dnsPorts ?? [port], maxAddresses: this.options.dnsMaxAddresses ?? 64 } }
        : {}),
      open: (target) => this.dial(target),
      connected: (peerId) => this.peers.has(peerId),
      ...(resolve ? { resolve } : {}),
      logger: this.logger,
    });
    this.dialer.start();
    this.logger.info('mesh listening', { host, port, peers, ...(dns ? { dns } : {}) });
  }

  publish(subject: string, payload: Buffer): void {
    assertSubject(subject);
    if (frameBytes(subject, payload) > MAX_FRAME_BYTES) {
      // Every peer would refuse it (and close the connection): at most once, so drop it here.
      this.logger.error('mesh publish dropped: payload too large', {
        subject,
        bytes: payload.length,
        max: MAX_FRAME_BYTES,
      });
      return;
    }
    let frame: Buffer | null = null;
    for (const peer of this.peers.values()) {
      if (!peer.interest.has(subject)) continue;
      frame ??= encodeFrame(FrameType.MSG, subject, payload);
      peer.conn.publish(frame);
    }
  }

  subscribe(subject: string): void {
    assertSubject(subject);
    if (this.subjects.has(subject)) return;
    this.subjects.add(subject);
    this.broadcast(encodeFrame(FrameType.SUB, subject));
  }

  unsubscribe(subject: string): void {
    if (!this.subjects.delete(subject)) return;
    this.broadcast(encodeFrame(FrameType.UNSUB, subject));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connectivity.handler = null;
    if (this.ticker) clearInterval(this.ticker);
    const server = this.server;
    this.server = null;
    const stopped = server ? once(server, 'close') : undefined;
    server?.close();
    const dialer = this.dialer?.close();
    for (const conn of this.connections) conn.end('shutdown');
    await Promise.all([stopped, dialer]);
  }

  status(): MeshStatus {
    const address = this.server?.address();
    return {
      id: this.id,
      port: typeof address === 'object' && address ? address.port : this.options.port,
      peers: [...this.peers].map(([id, p]) => ({
        id,
        role: p.conn.role,
        version: p.conn.version,
        rttMs: p.conn.rttMs,
      })),
      connections: this.connections.size,
      dials: this.dialer?.attempts ?? 0,
      pending: this.guard.pendingCount,
    };
  }

  private broadcast(frame: Buffer): void {
    for (const peer of this.peers.values()) peer.conn.control(frame);
  }

  /** The pair's leader (lower id) decides which of its connections is used. */
  private leads(peerId: string): boolean {
    return this.id < peerId;
  }

  private async dial(target: DialTarget): Promise<DialOutcome> {
    if (this.closed) return { cause: 'shutdown', wasActive: false };
    const socket = net.connect({ host: target.host, port: target.port });
    const conn = this.adopt(socket, 'dialer', target.key);
    // Not events.once: it would reject on the socket's 'error' (which the connection handles).
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return { cause: conn.cause, wasActive: conn.wasActive, ...(conn.peerId ? { peerId: conn.peerId } : {}) };
  }

  /** An incoming connection: admitted by the guard, or closed before anything is sent. */
  private accept(socket: net.Socket): void {
    const source = sourceOf(socket.remoteAddress);
    const known = this.knownSources.has(source) || this.dialer?.dials(source, sourceOf) === true;
    if (this.closed || !this.guard.admit(source, known)) {
      socket.on('error', (err) => this.logger.debug('refused mesh connection error', { err }));
      socket.destroy();
      return;
    }
    const conn = this.adopt(
      socket,
      'acceptor',
      targetOf(socket.remoteAddress ?? 'unknown', socket.remotePort ?? 0).key,
      this.limits.helloMs,
    );
    this.admitted.set(conn, { source, known });
  }

  /** The handshake of `conn` is over: success or not, it no longer counts as pre-auth. */
  private settle(conn: MeshConnection, ok: boolean, reason?: string, counts?: boolean): void {
    const admitted = this.admitted.get(conn);
    if (admitted === undefined) return;
    this.admitted.delete(conn);
    this.guard.settled(admitted.source, ok, reason, counts);
  }

  private adopt(socket: net.Socket, role: Role, remote: string, helloMs?: number): MeshConnection {
    const conn = new MeshConnection(socket, {
      role,
      hello: newHello(this.id, this.options.versions),
      secret: this.options.secret,
      logger: this.logger.child({ remote }),
      events: this.events,
      ...(this.options.silenceMs !== undefined ? { silenceMs: this.options.silenceMs } : {}),
      ...(helloMs !== undefined ? { helloMs } : {}),
    });
    this.connections.add(conn);
    return conn;
  }

  private activate(conn: MeshConnection): void {
    conn.activate();
    this.peers.set(conn.peerId!, { conn, interest: new Set() });
    conn.sendInterest(this.subjects);
    this.logger.info('mesh peer connected', {
      peer: conn.peerId,
      role: conn.role,
      remote: conn.remote,
      version: conn.version,
      peers: this.peers.size,
    });
  }

  private readonly events: ConnectionEvents = {
    identified: (conn) => {
      const id = conn.peerId!;
      if (id === this.id) return 'self';
      // The leader keeps its connection; the follower drops only its own extra dials (it
      // must accept the leader's, which may replace a connection it has not seen die yet).
      if (this.peers.has(id) && (this.leads(id) || conn.role === 'dialer')) return 'duplicate';
      return null;
    },
    authenticated: (conn) => {
      this.settle(conn, true);
      // It knows the secret: its address is a known peer's from now on (bounded: only peers get here).
      this.knownSources.add(sourceOf(parsePeer(conn.remote).host));
      const id = conn.peerId!;
      if (!this.leads(id)) return; // wait for the leader's USE
      if (this.peers.has(id)) {
        conn.end('duplicate');
        return;
      }
      conn.send(encodeFrame(FrameType.USE));
      this.activate(conn);
    },
    use: (conn) => {
      if (this.leads(conn.peerId!)) {
        conn.destroy('rejected'); // USE comes from the leader, and that is us
        return;
      }
      const old = this.peers.get(conn.peerId!);
      if (old) {
        this.logger.info('mesh peer replaced its connection', { peer: conn.peerId });
        this.peers.delete(conn.peerId!);
        old.conn.destroy('lost');
      }
      this.activate(conn);
    },
    frame: (conn, frame) => this.onFrame(conn, frame),
    drained: (conn) => conn.sendInterest(this.subjects),
    handshakeFailed: (conn, reason, code) => {
      // What guessing or holding slots takes (a wrong proof, a malformed handshake, a timeout)
      // counts towards a lockout; a version mismatch, or a known peer's timeout, is only logged.
      const admitted = this.admitted.get(conn);
      const counts =
        code !== undefined &&
        code !== 'HANDSHAKE_VERSION' &&
        !(code === 'HANDSHAKE_TIMEOUT' && admitted?.known === true);
      if (admitted) this.settle(conn, false, reason, counts);
      else this.guard.noted(`dial ${conn.remote}`, reason); // our dial: log once per episode, no lockout
    },
    closed: (conn) => {
      this.settle(conn, false);
      this.connections.delete(conn);
      const id = conn.peerId;
      if (!id) return;
      // The leader closed an extra connection of a pair that has one: park that address too.
      if (!conn.wasActive && conn.cause === 'lost' && this.peers.has(id)) conn.cause = 'duplicate';
      if (this.peers.get(id)?.conn !== conn) return;
      this.peers.delete(id);
      if (!this.closed) this.logger.info('mesh peer disconnected', { peer: id, peers: this.peers.size });
      this.dialer?.peerGone(id);
      if (!this.closed) this.connectivity.peerGone(id);
    },
  };

  private onFrame(conn: MeshConnection, frame: Frame): void {
    const peer = this.peers.get(conn.peerId!);
    if (peer?.conn !== conn) return;
    switch (frame.type) {
      case FrameType.MSG:
        if (this.subjects.has(frame.subject)) this.connectivity.deliver(frame.subject, frame.payload, peer.conn.peerId);
        return;
      case FrameType.SUB:
        peer.interest.add(frame.subject);
        return;
      case FrameType.UNSUB:
        peer.interest.delete(frame.subject);
        return;
      case FrameType.RESET:
        peer.interest.clear();
        return;
    }
  }
}
