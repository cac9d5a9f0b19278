/**
 * /metrics as operators read it: Soketi 1.6's names under `wiremesh_` (labels `app_id`), Node's
 * process metrics under prom-client's names, cluster gauges, webhook queue age; and the pino shape
 * of the log lines.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { connected, pusherClient, serverSdk, until, type PusherClient } from './helpers/clients.js';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { testApp } from './helpers/server.js';
import { createLogger } from '../src/log/logger.js';
import { prettyLine } from '../src/log/pretty.js';

let cluster: TestCluster;
let hanging: Server;
let client: PusherClient;

before(async () => {
  // A webhook receiver that never answers: batches wait in the queue and age.
  hanging = createServer(() => undefined);
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;
  cluster = await startTestCluster(2, {
    webhooks: { batchMs: 0, timeoutMs: 30_000, retryForMs: 60_000, maxQueuedBatches: 10 },
    apps: [testApp({ webhooks: [{ url, events: ['channel_occupied'] }] })],
  });
});

after(async () => {
  client?.disconnect();
  await cluster?.close();
  hanging.closeAllConnections();
  await new Promise((r) => hanging.close(r));
});

async function scrape(i: number): Promise<string> {
  const res = await fetch(`${cluster.nodes[i]!.httpUrl}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('Soketi names, Node process metrics, cluster gauges and webhook queue age', async () => {
  client = pusherClient(cluster.nodes[0]!.port);
  await connected(client);
  client.subscribe('my-channel');
  await until(() => client.channel('my-channel')?.subscribed === true, 'subscribed');
  await serverSdk(cluster.nodes[0]!.port).trigger('my-channel', 'e', { x: 1 });
  let text = await scrape(0);
  assert.equal(value(text, 'wiremesh_connected{app_id="app-id"}'), 1);
  assert.equal(value(text, 'wiremesh_new_connections_total{app_id="app-id"}'), 1);
  assert.equal(value(text, 'wiremesh_http_calls_received_total{app_id="app-id"}'), 1);
  assert.ok((value(text, 'wiremesh_http_received_bytes{app_id="app-id"}') ?? 0) > 0);
  assert.ok((value(text, 'wiremesh_socket_transmitted_bytes{app_id="app-id"}') ?? 0) > 0);
  for (const name of [
    'wiremesh_new_disconnections_total',
    'wiremesh_socket_received_bytes',
    'wiremesh_http_transmitted_bytes',
  ]) {
    assert.match(text, new RegExp(`# TYPE ${name} counter`));
  }
  // Node's defaults, prom-client's names with Soketi's kind of prefix.
  for (const name of [
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'nodejs_eventloop_lag_seconds',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_heap_size_total_bytes',
    'nodejs_external_memory_bytes',
  ]) {
    assert.ok(Number.isFinite(value(text, `wiremesh_${name}`)), name);
  }
  assert.match(text, /^wiremesh_nodejs_heap_space_size_used_bytes\{space="new"\} \d+/m);
  assert.match(text, /# TYPE wiremesh_nodejs_gc_duration_seconds histogram/);
  // Cluster gauges.
  assert.equal(value(text, 'wiremesh_cluster_nodes'), 2);
  assert.equal(value(text, `wiremesh_cluster_peer_up{peer="${cluster.nodes[1]!.server.nodeId}"}`), 1);
  assert.ok((value(text, 'wiremesh_cluster_replicated_entries') ?? 0) >= 1);
  // channel_occupied went to a receiver that never answers: the batch waits and ages.
  await new Promise((r) => setTimeout(r, 1_100));
  text = (await scrape(0)) + (await scrape(1));
  const ages = [...text.matchAll(/^wiremesh_webhook_queue_age_seconds\{app="app-id"\} ([\d.]+)$/gm)].map((m) =>
    Number(m[1]),
  );
  assert.equal(ages.length, 1, 'exactly one node (the channel owner) holds the webhook');
  assert.ok(ages[0]! >= 1, `queue age ${ages[0]}`);

  // A dead peer turns its link gauge to 0.
  await cluster.nodes[1]!.server.stop('crash');
  const peer = `wiremesh_cluster_peer_up{peer="${cluster.nodes[1]!.server.nodeId}"}`;
  const deadline = Date.now() + 5_000;
  while (value(await scrape(0), peer) !== 0) {
    assert.ok(Date.now() < deadline, 'peer_up never went to 0');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(value(await scrape(0), 'wiremesh_cluster_nodes'), 1);
});

test('log lines have pino shape; the TTY form is readable', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', sink: (l) => lines.push(l), context: { nodeId: 'n1' } });
  log.child({ part: 'core' }).warn('slow client', { socketId: '1.2', msg: 'ignored', level: 'ignored' });
  const r = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(r.level, 40);
  assert.equal(typeof r.time, 'number');
  assert.equal(r.pid, process.pid);
  assert.equal(typeof r.hostname, 'string');
  assert.equal(r.msg, 'slow client');
  assert.equal(r.nodeId, 'n1');
  assert.equal(r.socketId, '1.2');
  assert.deepEqual(Object.keys(r).slice(0, 4), ['level', 'time', 'pid', 'hostname']);
  const pretty = prettyLine(lines[0]!);
  assert.match(pretty, /^\d\d:\d\d:\d\d\.\d{3} .*WARN .*\[n1 core\] slow client socketId="1\.2"$/);
});
