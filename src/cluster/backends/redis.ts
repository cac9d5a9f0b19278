/**
 * Redis backend over node-redis (the `redis` package). Loaded only when `cluster.driver` is
 * `redis` (see load.ts).
 *
 * Guarantees, beyond those of `ClusterBackend`:
 * - Two connections: one carries PUBLISH (SPUBLISH when `sharded`), a duplicate carries
 *   SUBSCRIBE (SSUBSCRIBE). Listeners run in buffer mode, so payloads arrive byte for byte.
 * - Nothing is queued while disconnected: both clients run with `disableOfflineQueue`, so
 *   `publish()` drops at once (the drops are counted in the "restored" log line). While
 *   connected, at most `MAX_IN_FLIGHT` publishes wait for Redis (`commandsQueueMaxLength`);
 *   beyond that they are dropped, with a warning at most every 10 s.
 * - Reconnects forever with exponential backoff (100 ms doubling to 2 s, plus jitter). An outage
 *   logs one warning when it starts and one info line when it ends, never one per retry.
 * - Resubscribes: node-redis replays every subscription Redis had confirmed; on top of that the
 *   backend keeps the subjects it was asked for and subscribes, on each reconnect, any that
 *   node-redis lost (a SUBSCRIBE in flight when the connection dropped, or one made during the
 *   outage). `connectionChanged(true)` is reported only once both connections are ready and
 *   that resubscription is confirmed.
 * - `unsubscribe()` takes effect at once: messages for subjects not subscribed are dropped
 *   locally even while the UNSUBSCRIBE is still on its way.
 * - `connect()` waits, retrying, until Redis is reachable; it fails at once if Redis refuses
 *   the credentials, which retrying cannot fix.
 * - Both connections go to the one server in `url`. Classic pub/sub therefore works on a
 *   standalone server and on any Redis Cluster (the cluster broadcasts it); sharded pub/sub
 *   works on a standalone server or a one-shard cluster, and `connect()` refuses a multi-shard
 *   cluster with a precise error (a cluster-aware client would be needed there).
 */
import { createClient, type RedisClientType } from 'redis';
import type { Logger } from '../../log/logger.js';
import { Connectivity } from './connectivity.js';
import type { BackendHandler, ClusterBackend } from './types.js';

export interface RedisBackendOptions {
  url: string;
  /** Use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7+). */
  sharded: boolean;
}

type Client = RedisClientType;
type Role = 'publisher' | 'subscriber';

/** Publishes allowed to wait for Redis at once; beyond this they are dropped. */
export const MAX_IN_FLIGHT = 100_000;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2_000;
const CLOSE_TIMEOUT_MS = 2_000;
/** Bytes the subscriber may buffer before 'drain': ~1.5 million SSUBSCRIBE replays (see connect). */
const SUBSCRIBER_HIGH_WATER_MARK = 64 * 1024 * 1024;
const FAILURE_LOG_INTERVAL_MS = 10_000;

/** Delay before reconnect attempt `retries` (0-based): never gives up. */
export function reconnectDelay(retries: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** Math.min(retries, 16), BACKOFF_MAX_MS) + Math.floor(Math.random() * 100);
}

export class RedisBackend implements ClusterBackend {
  readonly name = 'redis';
  private readonly logger: Logger;
  private readonly connectivity: Connectivity;
  private pub: Client | null = null;
  private sub: Client | null = null;
  /** Subjects asked for, whatever node-redis currently knows. */
  private readonly subjects = new Set<string>();
  /** Subjects whose UNSUBSCRIBE failed; retried on reconnect. */
  private readonly stale = new Set<string>();
  private readonly ready: Record<Role, boolean> = { publisher: false, subscriber: false };
  private closed = false;
  private failures = { count: 0, loggedAt: 0 };

  constructor(
    private readonly options: RedisBackendOptions,
    logger: Logger,
  ) {
    this.logger = logger.child({ backend: 'redis', redis: redactUrl(options.url), sharded: options.sharded });
    this.connectivity = new Connectivity(this.logger, 'redis');
  }

  async connect(handler: BackendHandler): Promise<void> {
    if (this.connectivity.handler || this.closed)
      throw new Error('RedisBackend.connect() may be called once, before close()');
    this.connectivity.handler = handler;
    const pub = createClient({
      url: this.options.url,
      disableOfflineQueue: true,
      commandsQueueMaxLength: MAX_IN_FLIGHT,
      socket: { reconnectStrategy: this.reconnectStrategy },
    });
    // node-redis replays sharded subscriptions one command each before the socket counts as
    // ready, and stops writing (for good) at the first 'drain' wait: with thousands of
    // subjects the reconnect would hang. A large high-water mark keeps that replay in one go.
    // (`writableHighWaterMark` is passed through to net.Socket; node-redis does not declare it.)
    const socket = { reconnectStrategy: this.reconnectStrategy, writableHighWaterMark: SUBSCRIBER_HIGH_WATER_MARK };
    const sub = pub.duplicate({ socket });
    this.pub = pub;
    this.sub = sub;
    this.watch(pub, 'publisher');
    this.watch(sub, 'subscriber');
    try {
      await Promise.all([pub.connect(), sub.connect()]);
    } catch (err) {
      if (this.closed) throw new Error('RedisBackend closed while connecting', { cause: err });
      await this.close();
      if (!isAuthError(err)) throw err;
      throw new Error(`redis at ${redactUrl(this.options.url)} refused the credentials in cluster.redis.url`, {
        cause: err,
      });
    }
    if (this.options.sharded) await this.assertOneShard(pub);
    // Both sockets are ready; from here on, a drop and a recovery are reported to the handler.
    this.connectivity.restored();
  }

  publish(subject: string, payload: Buffer): void {
    const pub = this.pub;
    if (!pub?.isReady) {
      this.connectivity.dropped();
      return;
    }
    const sent = this.options.sharded ? pub.sPublish(subject, payload) : pub.publish(subject, payload);
    sent.then(undefined, this.onPublishFailed);
  }

  subscribe(subject: string): void {
    if (this.subjects.has(subject)) return;
    this.subjects.add(subject);
    this.stale.delete(subject);
    if (this.sub) void this.send('subscribe', [subject]);
  }

  unsubscribe(subject: string): void {
    if (!this.subjects.delete(subject)) return;
    if (this.sub) void this.send('unsubscribe', [subject]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connectivity.handler = null;
    const clients = [this.pub, this.sub];
    this.pub = this.sub = null;
    await Promise.all(clients.flatMap((c) => (c ? [shutdown(c)] : [])));
  }

  private readonly onMessage = (message: Buffer, channel: Buffer): void => {
    const subject = channel.toString();
    if (this.subjects.has(subject)) this.connectivity.deliver(subject, message);
  };

  private readonly onPublishFailed = (err: unknown): void => {
    if (!this.connectivity.up) {
      this.connectivity.dropped(); // flushed by the disconnect that started the outage
      return;
    }
    this.failures.count++;
    const now = Date.now();
    if (now - this.failures.loggedAt < FAILURE_LOG_INTERVAL_MS) return;
    this.logger.warn('redis publish failed; payload dropped', { err, dropped: this.failures.count });
    this.failures = { count: 0, loggedAt: now };
  };

  /**
   * Both connections go to the one server in `url`, so SSUBSCRIBE/SPUBLISH reach every channel
   * only if that server owns every slot: a standalone server or a one-shard Redis Cluster.
   * Refuses (and closes) rather than lose messages to MOVED replies on a multi-shard cluster.
   */
  private async assertOneShard(client: Client): Promise<void> {
    if (!String(await client.info('cluster')).includes('cluster_enabled:1')) return;
    const shards = Number(/cluster_size:(\d+)/.exec(String(await client.sendCommand(['CLUSTER', 'INFO'])))?.[1] ?? 1);
    if (shards <= 1) return;
    await this.close();
    throw new Error(
      `cluster.redis.sharded is true but the Redis Cluster at ${redactUrl(this.options.url)} has ${shards} shards; ` +
        'sharded pub/sub needs a standalone server or a one-shard cluster. Set sharded to false: ' +
        'classic pub/sub reaches every node of a cluster.',
    );
  }

  /**
   * Sends (S)SUBSCRIBE or (S)UNSUBSCRIBE; resolves false on failure, which the next reconnect
   * repairs (a failed UNSUBSCRIBE is remembered in `stale`; a failed SUBSCRIBE is still in
   * `subjects`). Never rejects.
   */
  private async send(op: 'subscribe' | 'unsubscribe', subjects: string[]): Promise<boolean> {
    const sub = this.sub;
    if (!sub) return false;
    try {
      if (this.options.sharded) {
        if (op === 'subscribe') await sub.sSubscribe(subjects, this.onMessage, true);
        else await sub.sUnsubscribe(subjects, this.onMessage, true);
      } else if (op === 'subscribe') await sub.subscribe(subjects, this.onMessage, true);
      else await sub.unsubscribe(subjects, this.onMessage, true);
      return true;
    } catch (err) {
      if (op === 'unsubscribe') for (const s of subjects) if (!this.subjects.has(s)) this.stale.add(s);
      // While still connected this is a refusal by Redis, not a dropped connection: say so.
      if (sub.isReady && !this.closed) this.logger.warn(`redis ${op} failed`, { err, subjects: subjects.length });
      return false;
    }
  }

  private watch(client: Client, role: Role): void {
    client.on('error', (err: unknown) => {
      if (!this.connectivity.connected && isAuthError(err)) return; // connect() rejects with it
      if (client.isReady) this.logger.warn('redis client error', { connection: role, err });
      else this.markDown(role, err);
    });
    client.on('reconnecting', () => this.markDown(role));
    client.on('ready', () => {
      if (role === 'publisher') this.markReady(role);
      else void this.resubscribe(client);
    });
  }

  /** Subscriber is back: subscribe whatever node-redis did not replay, then count it as ready. */
  private async resubscribe(sub: Client): Promise<void> {
    const missing = [...this.subjects];
    const stale = [...this.stale].filter((s) => !this.subjects.has(s));
    this.stale.clear();
    // Already-confirmed subjects cost nothing here: node-redis sends only the new ones. Sharded
    // subjects go one per command, as a Redis Cluster refuses cross-slot SSUBSCRIBE.
    const batches = this.options.sharded ? missing.map((s) => [s]) : missing.length ? [missing] : [];
    const sent = await Promise.all(batches.map((b) => this.send('subscribe', b)));
    if (stale.length) sent.push(await this.send('unsubscribe', stale));
    if (sent.includes(false)) {
      this.logger.debug('redis resubscribe interrupted; retrying on reconnect');
      return;
    }
    if (sub.isReady) this.markReady('subscriber');
  }

  /** Retries forever, except that bad credentials fail the first `connect()` at once. */
  private readonly reconnectStrategy = (retries: number, cause: Error): number | Error =>
    !this.connectivity.connected && isAuthError(cause) ? cause : reconnectDelay(retries);

  private markDown(role: Role, err?: unknown): void {
    this.ready[role] = false;
    this.connectivity.down({ connection: role, err });
  }

  private markReady(role: Role): void {
    this.ready[role] = true;
    if (this.connectivity.connected && this.ready.publisher && this.ready.subscriber) this.connectivity.restored();
  }
}

/** QUIT after pending replies when connected (bounded by CLOSE_TIMEOUT_MS), else drop the socket. */
async function shutdown(client: Client): Promise<void> {
  if (!client.isOpen) return;
  if (!client.isReady) {
    client.destroy();
    return;
  }
  const timer = setTimeout(() => client.destroy(), CLOSE_TIMEOUT_MS);
  try {
    await client.close();
  } finally {
    clearTimeout(timer);
  }
}

function isAuthError(err: unknown): boolean {
  return (
    err instanceof Error && /^(WRONGPASS|NOAUTH|NOPERM)|^ERR (invalid (username-)?password|AUTH)/.test(err.message)
  );
}

/** The URL without credentials, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
