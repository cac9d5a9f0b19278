/**
 * The metrics wiremesh exposes on /metrics, per app where it matters. Parts receive this object
 * (or a narrower view of it) and only increment.
 */
import { MetricsRegistry, type Metric } from './registry.js';

export function createServerMetrics(registry = new MetricsRegistry()) {
  const m = {
    registry,
    connections: registry.gauge('wiremesh_connections', 'Open WebSocket connections'),
    connectionsTotal: registry.counter('wiremesh_connections_total', 'WebSocket connections accepted'),
    disconnectionsTotal: registry.counter(
      'wiremesh_disconnections_total',
      'WebSocket connections closed, by close code',
    ),
    messagesIn: registry.counter('wiremesh_ws_messages_received_total', 'Frames received from clients'),
    bytesIn: registry.counter('wiremesh_ws_bytes_received_total', 'Bytes received from clients'),
    messagesOut: registry.counter('wiremesh_ws_messages_sent_total', 'Frames sent to clients'),
    bytesOut: registry.counter('wiremesh_ws_bytes_sent_total', 'Bytes sent to clients'),
    protocolErrors: registry.counter('wiremesh_protocol_errors_total', 'Errors sent to clients, by code'),
    apiCalls: registry.counter('wiremesh_http_api_calls_total', 'HTTP API calls, by endpoint and status'),
    httpRefusals: registry.counter(
      'wiremesh_http_refusals_total',
      'HTTP requests refused (413, 401/403, unknown app, …), by reason',
    ),
    apiEvents: registry.counter('wiremesh_http_api_events_total', 'Events published through the HTTP API'),
    webhooks: registry.counter('wiremesh_webhooks_total', 'Webhook requests, by outcome'),
    webhooksDropped: registry.counter('wiremesh_webhook_events_dropped_total', 'Webhook events dropped, by reason'),
    webhooksCoalesced: registry.counter(
      'wiremesh_webhook_events_coalesced_total',
      'channel_occupied + channel_vacated pairs of one channel in one batch window, both not sent',
    ),
    channels: registry.gauge('wiremesh_channels', 'Occupied channels'),
    refusals: registry.counter(
      'wiremesh_refusals_total',
      'Connections, frames, subscriptions and replicated state refused by a limit, by limit',
    ),
    livewireRequests: registry.counter(
      'wiremesh_livewire_requests_total',
      'Requests tunnelled to a Livewire backend, by status',
    ),
    livewireFallbacks: registry.counter('wiremesh_livewire_fallbacks_total', 'Requests sent back to HTTP, by reason'),
    livewireLatency: registry.histogram(
      'wiremesh_livewire_request_duration_seconds',
      'Tunnelled requests: request frame in to response frame out',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    httpBytesIn: registry.counter('wiremesh_http_api_received_bytes_total', 'Bytes of HTTP API request bodies'),
    httpBytesOut: registry.counter('wiremesh_http_api_transmitted_bytes_total', 'Bytes of HTTP API response bodies'),
    webhookQueueAge: registry.gauge(
      'wiremesh_webhook_queue_age_seconds',
      'Age of the oldest webhook batch not yet delivered, per app',
    ),
    clusterNodes: registry.gauge(
      'wiremesh_cluster_nodes',
      'Live cluster nodes as this node sees them, itself included',
    ),
    clusterEntries: registry.gauge(
      'wiremesh_cluster_replicated_entries',
      'Replicated presence and subscription entries this node holds',
    ),
    clusterPeerUp: registry.gauge(
      'wiremesh_cluster_peer_up',
      'Link state per peer node: 1 heartbeating, 0 silent or leaving',
    ),
  };
  addSoketiNames(registry, m);
  return m;
}

/**
 * Soketi 1.6's metric names (its `soketi_` prefix swapped for `wiremesh_`, labels `app_id` and
 * `port`), derived from the series above at scrape time, so a Soketi dashboard works unchanged.
 */
type Sources =
  | 'connections'
  | 'connectionsTotal'
  | 'disconnectionsTotal'
  | 'bytesIn'
  | 'bytesOut'
  | 'httpBytesIn'
  | 'httpBytesOut'
  | 'apiCalls';

function addSoketiNames(registry: MetricsRegistry, m: Record<Sources, Metric>): void {
  const a = (name: string, help: string, type: 'counter' | 'gauge', source: Metric): void =>
    registry.alias(name, help, type, source, 'app', 'app_id');
  a('wiremesh_connected', 'The number of currently connected sockets.', 'gauge', m.connections);
  a('wiremesh_new_connections_total', 'Total amount of connection requests.', 'counter', m.connectionsTotal);
  a('wiremesh_new_disconnections_total', 'Total amount of disconnections.', 'counter', m.disconnectionsTotal);
  a('wiremesh_socket_received_bytes', 'Total amount of bytes received from sockets.', 'counter', m.bytesIn);
  a('wiremesh_socket_transmitted_bytes', 'Total amount of bytes transmitted to sockets.', 'counter', m.bytesOut);
  a('wiremesh_http_received_bytes', 'Total amount of bytes the REST API received.', 'counter', m.httpBytesIn);
  a('wiremesh_http_transmitted_bytes', 'Total amount of bytes the REST API sent back.', 'counter', m.httpBytesOut);
  a('wiremesh_http_calls_received_total', 'Total amount of received REST API calls.', 'counter', m.apiCalls);
}

export type ServerMetrics = ReturnType<typeof createServerMetrics>;
