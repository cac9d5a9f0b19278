/**
 * The one configuration schema: its types and defaults. Validation, cross-field rules included,
 * is validateConfig (config/validate.ts). The config file and environment variables (config/env.ts)
 * both map onto this shape (config/load.ts); every part of the server receives only its own slice.
 */
import type { LogLevel } from '../log/logger.js';

export type WebhookEventName =
  | 'channel_occupied'
  | 'channel_vacated'
  | 'member_added'
  | 'member_removed'
  | 'client_event'
  | 'cache_miss'
  | 'subscription_count'
  | 'user_online'
  | 'user_offline';

export const WEBHOOK_EVENTS: readonly WebhookEventName[] = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'subscription_count',
  'user_online',
  'user_offline',
];

export interface WebhookEndpointConfig {
  url: string;
  /** Which events this endpoint receives. */
  events: WebhookEventName[];
  /** Extra headers sent with every request to this endpoint. */
  headers: Record<string, string>;
  /** Only channels whose name starts with this prefix / ends with this suffix. */
  filter: { channelNamePrefix?: string; channelNameSuffix?: string };
}

export interface AppConfig {
  id: string;
  key: string;
  secret: string;
  enabled: boolean;
  /** Allow `client-*` events on private and presence channels. */
  clientEvents: boolean;
  /** Allow `pusher:signin` (user authentication, server-to-user events, watchlists). */
  userAuthentication: boolean;
  /** Close sockets that have not signed in after this many ms (0 = never). Needs userAuthentication. */
  signinTimeoutMs: number;
  /** Maximum simultaneous connections for the app (0 = unlimited). */
  maxConnections: number;
  /** Client events a single connection may send per second (0 = unlimited). */
  maxClientEventsPerSecond: number;
  /** Maximum distinct users in one presence channel. */
  maxPresenceMembers: number;
  /** Maximum size of one member's `user_info`, JSON-encoded, in bytes. */
  maxPresenceMemberSizeBytes: number;
  /** Maximum size of an event's `data` (HTTP API and client events), in bytes. */
  maxEventPayloadBytes: number;
  /** Maximum length of an event name. */
  maxEventNameLength: number;
  /** Maximum channels in one HTTP API `events` call. */
  maxEventChannels: number;
  /** Maximum events in one HTTP API `batch_events` call. */
  maxEventBatchSize: number;
  webhooks: WebhookEndpointConfig[];
  /** Livewire over WebSockets (src/livewire/): absent = the tunnel is disabled for this app. */
  livewire?: LivewireConfig;
  /** Shared fragments rendered once per node (src/fragments/); absent = off. Needs `livewire` (its upstreams). */
  fragments?: FragmentsConfig;
  /** Channel history and resume (src/history/): absent = no channel of this app keeps history. */
  history?: HistoryConfig;
}

/** Which channels keep a bounded history, so clients can resume after a reconnect (docs/configuration.md). */
export interface HistoryConfig {
  /** Channel name patterns; `*` stands for any run of characters (`news-*`, `private-orders.*`). */
  channels: string[];
  /** Events kept per channel. */
  maxEvents: number;
  /** Events older than this are dropped. */
  maxAgeMs: number;
  /** Bytes of event frames kept per channel (a replay is sent as one message between nodes). */
  maxBytes: number;
  /** Channels with history kept by one node for the app; the least recently used goes first. */
  maxChannels: number;
  /** How long a resume waits for the channel's history node before telling the client the gap is unknown. */
  resumeTimeoutMs: number;
  /**
   * Where the streams live: `memory`, sequenced and kept by one node per channel (its owner);
   * `broker`, in the cluster's broker (a Redis Stream per channel on the redis driver, a JetStream
   * stream per app on the nats driver), which any node appends to and replays from. `auto` (the
   * default) is resolved at validation: `broker` on the redis and nats drivers, `memory` otherwise.
   */
  store: HistoryStoreKind;
  /** Resumes one client address may start per second (a burst of ten times that); beyond, a gap. */
  resumesPerSecond: number;
}

export type HistoryStoreKind = 'auto' | 'memory' | 'broker';

export function historyDefaults(): Omit<HistoryConfig, 'channels'> {
  return {
    maxEvents: 100,
    maxAgeMs: 120_000,
    maxBytes: 256 * 1024,
    maxChannels: 10_000,
    resumeTimeoutMs: 3_000,
    store: 'auto',
    resumesPerSecond: 20,
  };
}

/** Shared fragments (docs/fragments.md): HTML the same for every viewer of a channel, rendered once per node. */
export interface FragmentsConfig {
  /** Path on the app's Livewire upstreams that renders a fragment (signed POST, answers HTML). */
  path: string;
  /**
   * The fragments pages may view: each name (1–64 characters `A-Z a-z 0-9 _ - . :`) with the
   * channel patterns it may be viewed on (`*` = any run of characters). Anything else is refused.
   */
  names: Record<string, string[]>;
  /** Renders of one fragment on one node start at most once per window; triggers in between coalesce. */
  windowMs: number;
  /** Re-render every active fragment this often (0 = only on presence changes and API refreshes). */
  intervalMs: number;
  /** Time allowed for one render (headers and body). */
  timeoutMs: number;
  /** Largest HTML accepted from a render; a larger answer is a failed render. */
  maxHtmlBytes: number;
  /** Fragments one connection may view at once. */
  maxPerConnection: number;
  /** Fragments (name × channel) with viewers on one node, per app. */
  maxActive: number;
  /** Of those, how many one client address (IPv6: its /64) may have brought in, per app and node. */
  maxPerAddress: number;
}

export function fragmentsDefaults(): FragmentsConfig {
  return {
    path: '/wiremesh/fragments',
    names: {},
    windowMs: 100,
    intervalMs: 0,
    timeoutMs: 5_000,
    maxHtmlBytes: 64 * 1024,
    maxPerConnection: 16,
    maxActive: 1_000,
    maxPerAddress: 32,
  };
}

/**
 * Where an app's Laravel backends ("upstreams" inside src/livewire) are and what may be tunnelled
 * to them (docs/livewire-protocol.md).
 */
export interface LivewireConfig {
  /** Backend origins (`http(s)://host:port`), nearest first. */
  backends: string[];
  /** Backends found by DNS (A and AAAA records, re-resolved every 30 s), tried before `backends`. */
  dns?: { name: string; port: number; protocol: 'http' | 'https' };
  /** The app's public origin (required): the page Origin accepted, response URLs, X-Forwarded-Host/Port/Proto. */
  publicUrl: string;
  /** More page origins allowed to tunnel (e.g. `https://www.example.com`); each is then its own X-Forwarded-Host. */
  allowedOrigins: string[];
  /** Addresses (or CIDR ranges) of proxies in front of wiremesh whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** Paths that may be tunnelled: exact, or with one `*` standing for one segment of `[A-Za-z0-9_-]` (Livewire 4's hashed path). */
  paths: string[];
  /** Time allowed for the backend's headers, and between two pieces of its body. */
  timeoutMs: number;
  /** Time allowed for a whole exchange, from its dispatch to the last frame of its response. */
  deadlineMs: number;
  /** Requests waiting for a connection to one backend beyond this fall back to HTTP (`busy`). */
  maxQueued: number;
  /** A request not dispatched to a backend within this falls back to HTTP (`busy`). */
  queueTimeoutMs: number;
  /** Largest request body tunnelled; larger ones fall back to HTTP (`too_large`). */
  maxRequestBytes: number;
  /** Largest response body; a larger one is answered 502. */
  maxResponseBytes: number;
  /** Response bytes one connection may hold buffered at once (all its requests); beyond, 502. */
  maxBufferedResponseBytes: number;
  /** Requests one connection may have in flight; more fall back to HTTP (`busy`). */
  maxInFlight: number;
  /**
   * Tunnel requests per second one connection may send (bursts of twice that), counted apart from
   * `limits.maxFramesPerSecond`; beyond, each falls back to HTTP (`busy`) and counts as a frame.
   * 0 = no limit of its own (requests are never counted as frames).
   */
  maxRequestsPerSecond: number;
  /** Health check path (Laravel 11's `/up`); an answer below 500 counts as healthy. */
  healthPath: string;
  healthIntervalMs: number;
  /**
   * Laravel's APP_KEY (`base64:…`), used only to decrypt and compare the cookies Laravel encrypts,
   * so that a cookie re-encrypted unchanged is no session change (src/livewire/laravel-cookies.ts).
   * Absent: every new cookie value counts as a change.
   */
  laravelKey?: string;
  /** Laravel's APP_PREVIOUS_KEYS: cookies encrypted under them are read too. */
  laravelPreviousKeys: string[];
}

export function livewireDefaults(): Omit<LivewireConfig, 'backends' | 'dns' | 'publicUrl' | 'laravelKey'> {
  return {
    allowedOrigins: [],
    trustedProxies: [],
    paths: ['/livewire/update', '/livewire-*/update', '/broadcasting/auth', '/broadcasting/user-auth'],
    timeoutMs: 15_000,
    deadlineMs: 60_000,
    maxQueued: 128,
    queueTimeoutMs: 3_000,
    maxRequestBytes: 1024 * 1024,
    maxResponseBytes: 10 * 1024 * 1024,
    maxBufferedResponseBytes: 16 * 1024 * 1024,
    maxInFlight: 8,
    maxRequestsPerSecond: 30,
    healthPath: '/up',
    healthIntervalMs: 5_000,
    laravelPreviousKeys: [],
  };
}

export interface WebhooksConfig {
  /** Events of one app are collected for this long and sent in one request. */
  batchMs: number;
  /** An endpoint that does not answer 2xx within this time is retried. */
  timeoutMs: number;
  /** Retries (exponential backoff) stop after this long; the batch is then dropped and logged. */
  retryForMs: number;
  /** Batches waiting per endpoint (of each app) beyond this are dropped, oldest first, with a log line. */
  maxQueuedBatches: number;
  /** A batch is cut (sent) early once it holds this many events. */
  maxBatchEvents: number;
  /** … or once its events take about this many bytes. */
  maxBatchBytes: number;
  /** Bytes of batches waiting per endpoint (of each app); beyond this the oldest are dropped, counted and logged. */
  maxQueuedBytes: number;
}

export interface LimitsConfig {
  /** Largest WebSocket frame accepted from a client, in bytes. Larger frames close the socket (1009). */
  maxFrameBytes: number;
  /**
   * Largest HTTP request body, in bytes: 413 from Content-Length before reading, or as soon as
   * a chunked body passes it. Bodies are read only for a known app and a valid signature.
   */
  maxRequestBodyBytes: number;
  /** Bytes queued for one socket beyond which it is closed as too slow (4100). */
  maxBufferedBytes: number;
  /** Maximum channel name length. */
  maxChannelNameLength: number;
  /**
   * WebSocket connections this process holds at most (4100 beyond). `"auto"`: the process's
   * open-file limit (RLIMIT_NOFILE) less headroom for /health, the HTTP API, webhooks and the
   * cluster and Livewire backends (see core/fd-limit.ts). 0 = no limit.
   */
  maxConnections: number | 'auto';
  /**
   * WebSocket connections from one client address at most (4100 beyond), and TCP sockets from one
   * address at accept (refused beyond; also never more than half the node's sockets). IPv6
   * addresses are counted by /64. 0 = no limit.
   */
  maxConnectionsPerIp: number;
  /** A TCP connection that has not sent a complete request head within this is closed (0 = never). */
  headersTimeoutMs: number;
  /** Channels one connection may be subscribed to at once (a subscription error beyond). 0 = no limit. */
  maxChannelsPerConnection: number;
  /**
   * Subscriptions all connections from one client address (IPv6: its /64) may hold on this node
   * at once (a subscription error beyond), so one client cannot fill the subscriptions this node's
   * peers keep for it (`maxReplicatedSubscriptionsPerNode`). 0 = no limit.
   */
  maxSubscriptionsPerIp: number;
  /** Frames per second one connection may send, sustained (token bucket); beyond, it is closed with 4301. 0 = no limit. */
  maxFramesPerSecond: number;
  /** Frames one connection may send at once (the bucket's size), e.g. resubscribing after a reconnect. */
  maxFrameBurst: number;
  /** Subscriptions (presence entries) this node keeps for one other node; deltas beyond are refused. 0 = no limit. */
  maxReplicatedSubscriptionsPerNode: number;
  /**
   * Livewire tunnel: upstream response bytes this node holds in memory at once, over all its
   * connections (a response that would go over is answered 502; a new request is sent back to HTTP
   * while the node is full). 0 = no limit.
   */
  maxTunnelBufferedBytes: number;
  /** The same, for the connections of one client address. 0 = no limit. */
  maxTunnelBufferedBytesPerIp: number;
}

export type TransportKind = 'auto' | 'ws' | 'uws';

export interface ClusterConfig {
  driver: 'memory' | 'redis' | 'nats' | 'mesh';
  redis: { url: string; prefix: string; sharded: boolean };
  nats: NatsConfig;
  mesh: MeshConfig;
  /** How often each node sends its presence delta / heartbeat. */
  heartbeatMs: number;
  /** A node silent for this long is down and its users leave (must be ≥ 2 × heartbeatMs). */
  nodeTimeoutMs: number;
}

export interface NatsConfig {
  servers: string[];
  prefix: string;
  user?: string;
  pass?: string;
  token?: string;
  /**
   * Channel history in JetStream (`apps[].history.store: broker`): where the server keeps each
   * app's stream (`file`, the default, survives a nats-server restart; `memory` does not).
   */
  historyStorage: 'file' | 'memory';
  /** Copies of each app's history stream in a JetStream cluster (1 on a single nats-server). */
  historyReplicas: number;
}

/** No broker: every node connects to every other over TCP (cluster/backends/mesh.ts). */
export interface MeshConfig {
  /** Port the node listens on for its peers; also the port of the peers found by `dns`. */
  port: number;
  /**
   * Address the mesh port listens on. Default loopback; required when the peers are on other
   * hosts (config/cluster.ts), so the mesh is never open on every interface by accident.
   */
  host: string;
  /** Peers as `host:port` (`[v6]:port`); the node's own address may be listed. */
  peers: string[];
  /** A name whose A/AAAA records are the peers, re-resolved every 5 s (Fly.io: `<app>.internal`). */
  dns?: string;
  /**
   * DNS servers asked for `dns` (`ip` or `ip:port`, IPv6 as `[v6]:port`), A and AAAA queried
   * directly; default: the system resolver (getaddrinfo). For a Consul agent (port 8600) or a
   * test's own DNS server.
   */
  dnsServers?: string[];
  /** Addresses taken from one answer for `dns` (the rest ignored, and the answer logged as truncated); default 64. */
  dnsMaxAddresses?: number;
  /** Shared secret the nodes prove to each other; required when `driver` is `mesh`. */
  secret?: string;
  /**
   * Ports dialed on each address `dns` resolves to (default: `[port]`). Not read from the
   * config: set for worker processes, whose peers listen on `port`, `port + 1`, ….
   */
  dnsPorts?: number[];
}

export interface Config {
  host: string;
  port: number;
  /** Stable name of this node in logs and metrics; a random suffix makes each run a new replica. */
  nodeId: string;
  logLevel: LogLevel;
  transport: TransportKind;
  /**
   * Worker processes of this node on this host (`"auto"` in the file = one per CPU). Each is a
   * cluster node of its own; they share `port` (SO_REUSEPORT) and find each other as described
   * in workers/worker-config.ts.
   */
  workers: number;
  /** Seconds of client silence before the server pings it (sent as `activity_timeout`). */
  activityTimeout: number;
  /** After a server ping, close the socket (4201) if no pong arrives within this many ms. */
  pongTimeoutMs: number;
  /** SIGTERM: time given to clients to reconnect elsewhere before the process exits. */
  shutdownGraceMs: number;
  /** Serve Prometheus metrics on /metrics. */
  metrics: boolean;
  /** Serve /metrics on its own listener at metricsHost:metricsPort instead of `port` (0 = on `port`). */
  metricsPort: number;
  metricsHost: string;
  /** When set, /metrics answers only requests with `Authorization: Bearer <metricsToken>`. */
  metricsToken: string;
  /** Where this node runs (shown on the dashboard; free text, e.g. `eu-west`). */
  region: string;
  /**
   * Proxies in front of wiremesh (addresses and CIDR ranges, IPv4 and IPv6). A request or
   * WebSocket whose TCP peer is one of them is counted and logged as the client it names: the
   * rightmost address of `X-Forwarded-For` that is not itself a trusted proxy (or `Fly-Client-IP`,
   * see proxyHeader). Empty: the client is always the TCP peer (headers are never believed).
   */
  trustedProxies: string[];
  /** The header trusted proxies name the client in: `x-forwarded-for` (nginx, most proxies) or `fly-client-ip` (fly-proxy). */
  proxyHeader: 'x-forwarded-for' | 'fly-client-ip';
  dashboard: DashboardConfig;
  limits: LimitsConfig;
  webhooks: WebhooksConfig;
  cluster: ClusterConfig;
  apps: AppConfig[];
}

/** The live cluster dashboard (src/dashboard/): off by default, on its own address. */
export interface DashboardConfig {
  enabled: boolean;
  /** Loopback by default; any other address needs a `token`. */
  host: string;
  port: number;
  /** Required as `?token=` or `Authorization: Bearer …` when set; empty = no token (loopback only). */
  token: string;
}

export const DEFAULT_APP: Pick<AppConfig, 'id' | 'key' | 'secret'> = {
  id: 'app-id',
  key: 'app-key',
  secret: 'app-secret',
};

export function appDefaults(): Omit<AppConfig, 'id' | 'key' | 'secret'> {
  return {
    enabled: true,
    clientEvents: false,
    userAuthentication: false,
    signinTimeoutMs: 0,
    maxConnections: 0,
    maxClientEventsPerSecond: 10,
    maxPresenceMembers: 100,
    maxPresenceMemberSizeBytes: 1024,
    maxEventPayloadBytes: 100 * 1024,
    maxEventNameLength: 200,
    maxEventChannels: 100,
    maxEventBatchSize: 10,
    webhooks: [],
  };
}

/**
 * The default `host`. With the well-known DEFAULT_APP credentials and no `host` given, the server
 * binds LOOPBACK_HOST instead (validate.ts): those credentials are never served on another address.
 */
export const LOOPBACK_HOST = '127.0.0.1';

export function defaults(): Omit<Config, 'apps'> {
  return {
    host: '0.0.0.0',
    port: 6001,
    nodeId: '',
    logLevel: 'info',
    transport: 'auto',
    workers: 1,
    activityTimeout: 120,
    pongTimeoutMs: 30_000,
    shutdownGraceMs: 10_000,
    metrics: true,
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    metricsToken: '',
    region: '',
    trustedProxies: [],
    proxyHeader: 'x-forwarded-for',
    dashboard: { enabled: false, host: '127.0.0.1', port: 9601, token: '' },
    limits: {
      maxFrameBytes: 256 * 1024,
      // One event of the largest allowed data (apps[].maxEventPayloadBytes, 100 KiB) JSON-escaped in
      // a body, or a batch of 10 events of Pusher's own 10 KB limit: 256 KiB holds either.
      maxRequestBodyBytes: 256 * 1024,
      maxBufferedBytes: 4 * 1024 * 1024,
      maxChannelNameLength: 164,
      maxConnections: 'auto',
      maxConnectionsPerIp: 1000,
      headersTimeoutMs: 10_000,
      maxChannelsPerConnection: 100,
      maxSubscriptionsPerIp: 10_000,
      maxFramesPerSecond: 20,
      maxFrameBurst: 250,
      maxReplicatedSubscriptionsPerNode: 1_000_000,
      maxTunnelBufferedBytes: 256 * 1024 * 1024,
      maxTunnelBufferedBytesPerIp: 64 * 1024 * 1024,
    },
    webhooks: {
      batchMs: 50,
      timeoutMs: 5_000,
      retryForMs: 300_000,
      maxQueuedBatches: 1000,
      maxBatchEvents: 1000,
      maxBatchBytes: 256 * 1024,
      maxQueuedBytes: 16 * 1024 * 1024,
    },
    cluster: {
      driver: 'memory',
      redis: { url: 'redis://127.0.0.1:6379', prefix: 'wiremesh', sharded: false },
      nats: { servers: ['nats://127.0.0.1:4222'], prefix: 'wiremesh', historyStorage: 'file', historyReplicas: 1 },
      mesh: { port: 6100, host: '127.0.0.1', peers: [], dnsMaxAddresses: 64 },
      heartbeatMs: 1_000,
      nodeTimeoutMs: 10_000,
    },
  };
}
