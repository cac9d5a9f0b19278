/**
 * NATS backend over `@nats-io/transport-node`. Loaded only when `cluster.driver` is `nats`
 * (see load.ts).
 *
 * Guarantees, beyond those of `ClusterBackend`:
 * - One connection with `noEcho`: a node never receives its own publications.
 * - Subjects must be valid literal NATS subjects: non-empty `.`-separated tokens without
 *   whitespace, `*` or `>` (so a subscription can never turn into a wildcard). Anything else is
 *   a programming error and throws a `TypeError`; the layer above encodes free-form names
 *   (base64url is safe).
 * - One callback subscription per subject (no async iterator per subject), so thousands of
 *   subjects cost a map entry each.
 * - Nothing is queued while disconnected: `publish()` drops at once while the connection is
 *   down (the drops are counted in the "restored" log line). A publish made in the instant
 *   before the client notices the drop sits in its outbound buffer, which it empties on each
 *   reconnect attempt: also dropped, never sent twice. A payload above the server's
 *   `max_payload` (1 MiB by default) is dropped with an error log.
 * - Reconnects forever (`maxReconnectAttempts: -1`, 1 s apart plus jitter). The client re-sends
 *   every subscription when it reconnects; once a PING/PONG round trip confirms the server has
 *   them, `connectionChanged(true)` is reported. An outage logs one warning and one info line.
 * - `connect()` waits, retrying, until a server is reachable; it fails at once on an
 *   authorization error, which retrying cannot fix.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Msg, type NatsConnection, type Status, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../log/logger.js';
import { Connectivity } from './connectivity.js';
import type { BackendHandler, ClusterBackend } from './types.js';

export interface NatsBackendOptions {
  servers: string[];
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
}

const RECONNECT_WAIT_MS = 1_000;
const RECONNECT_JITTER_MS = 200;
/** Client pings every 10 s; three unanswered pings mark the connection stale and reconnect. */
const PING_INTERVAL_MS = 10_000;
const MAX_PING_OUT = 3;

const LITERAL_SUBJECT = /^[^\s.*>]+(?:\.[^\s.*>]+)*$/;

export function assertSubject(subject: string): void {
  if (!LITERAL_SUBJECT.test(subject)) {
    throw new TypeError(
      `invalid NATS subject ${JSON.stringify(subject)}: use non-empty '.'-separated tokens without whitespace, '*' or '>'`,
    );
  }
}

export class NatsBackend implements ClusterBackend {
  readonly name = 'nats';
  private readonly logger: Logger;
  private readonly connectivity: Connectivity;
  private nc: NatsConnection | null = null;
  private readonly subs = new Map<string, Subscription | null>();
  private closed = false;
  private statusLoop: Promise<void> | null = null;
  private readonly abort = new AbortController();

  constructor(
    private readonly options: NatsBackendOptions,
    logger: Logger,
  ) {
    this.logger = logger.child({ backend: 'nats', servers: options.servers });
    this.connectivity = new Connectivity(this.logger, 'nats');
  }

  async connect(handler: BackendHandler): Promise<void> {
    if (this.connectivity.handler || this.closed)
      throw new Error('NatsBackend.connect() may be called once, before close()');
    this.connectivity.handler = handler;
    const nc = await this.dial();
    if (this.closed) {
      await nc.close();
      throw new Error('NatsBackend closed while connecting');
    }
    this.nc = nc;
    this.statusLoop = this.watch(nc).catch((err: unknown) => {
      this.logger.error('nats status watcher failed', { err });
    });
    for (const subject of this.subs.keys()) this.subs.set(subject, this.open(nc, subject));
    this.connectivity.restored();
  }

  publish(subject: string, payload: Buffer): void {
    assertSubject(subject);
    const nc = this.nc;
    if (!nc || !this.connectivity.up) {
      this.connectivity.dropped();
      return;
    }
    try {
      nc.publish(subject, payload);
    } catch (err) {
      // max_payload exceeded, or the connection closed under us: at most once, so drop.
      if (!this.closed)
        this.logger.error('nats publish failed; payload dropped', { err, subject, bytes: payload.length });
    }
  }

  subscribe(subject: string): void {
    assertSubject(subject);
    if (this.subs.has(subject)) return;
    this.subs.set(subject, this.nc ? this.open(this.nc, subject) : null);
  }

  unsubscribe(subject: string): void {
    const sub = this.subs.get(subject);
    if (sub === undefined) return;
    this.subs.delete(subject);
    // Removes the subscription locally at once; the UNSUB reaches the server when connected.
    if (sub && !sub.isClosed()) sub.unsubscribe();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connectivity.handler = null;
    this.abort.abort();
    const nc = this.nc;
    this.nc = null;
    if (nc && !nc.isClosed()) await nc.close();
    await this.statusLoop;
  }

  private open(nc: NatsConnection, subject: string): Subscription {
    return nc.subscribe(subject, { callback: this.onMessage });
  }

  private readonly onMessage = (err: Error | null, msg: Msg): void => {
    if (err) {
      this.logger.warn('nats subscription error', { err, subject: msg?.subject });
      return;
    }
    // The bytes are not copied: they are a view of a buffer the client allocated for this read.
    const data = msg.data;
    this.connectivity.deliver(msg.subject, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  };

  /** First connection: retries until a server answers, the backend closes, or auth is refused. */
  private async dial(): Promise<NatsConnection> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await connect({
          servers: this.options.servers,
          ...(this.options.user === undefined ? {} : { user: this.options.user }),
          ...(this.options.pass === undefined ? {} : { pass: this.options.pass }),
          ...(this.options.token === undefined ? {} : { token: this.options.token }),
          name: 'wiremesh',
          noEcho: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: RECONNECT_WAIT_MS,
          reconnectJitter: RECONNECT_JITTER_MS,
          pingInterval: PING_INTERVAL_MS,
          maxPingOut: MAX_PING_OUT,
        });
      } catch (err) {
        if (err instanceof Error && err.name === 'AuthorizationError') {
          throw new Error('nats refused the credentials in cluster.nats (user/pass or token)', { cause: err });
        }
        this.connectivity.down({ err });
        const wait = Math.min(100 * 2 ** Math.min(attempt, 5), RECONNECT_WAIT_MS) + Math.random() * RECONNECT_JITTER_MS;
        try {
          await sleep(wait, undefined, { signal: this.abort.signal });
        } catch (abortErr) {
          throw new Error('NatsBackend closed while connecting', { cause: abortErr });
        }
      }
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) this.onStatus(status);
  }

  private onStatus(status: Status): void {
    if (this.closed) return;
    switch (status.type) {
      case 'disconnect':
        this.connectivity.down({ server: status.server });
        return;
      case 'reconnect':
        void this.confirmReconnect(status.server);
        return;
      case 'error':
        this.logger.warn('nats error', { err: status.error });
        return;
      case 'ldm':
        this.logger.info('nats server entering lame duck mode; will move to another server', { server: status.server });
        return;
      case 'slowConsumer':
        this.logger.warn('nats slow consumer: messages may be dropped', {
          subject: status.sub.getSubject(),
          pending: status.pending,
        });
        return;
      case 'staleConnection':
        this.logger.warn('nats connection stale (pings unanswered); reconnecting');
        return;
      default:
        this.logger.debug('nats status', { status: status.type });
    }
  }

  /**
   * The client has re-sent every SUB before reporting the reconnect; a PING/PONG round trip
   * proves the server has applied them, so `connectionChanged(true)` means "subscribed again".
   */
  private async confirmReconnect(server: string): Promise<void> {
    const nc = this.nc;
    if (!nc || this.connectivity.up) return;
    try {
      await nc.flush();
    } catch (err) {
      this.logger.debug('nats reconnect not confirmed; waiting for the next one', { err });
      return;
    }
    if (!nc.isClosed()) this.connectivity.restored({ server });
  }
}
