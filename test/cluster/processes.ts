/**
 * Real `wiremesh start` processes clustered over a real Redis or NATS server started for the
 * test, or over the mesh driver (no broker: every node lists every node, itself included, on
 * loopback).
 */
import { startBroker, type Broker, type BrokerKind } from '../helpers/brokers.js';
import { freePort, spawnServer, testApp, type ServerProcess } from '../helpers/server.js';
import { sleep } from '../helpers/clients.js';
import type { ClusterHarness } from './harness.js';

const HEARTBEAT_MS = 200;
const NODE_TIMEOUT_MS = 1_000;
const MESH_SECRET = 'cluster-test-secret-of-at-least-32-bytes';

export type ClusterKind = BrokerKind | 'mesh';

export interface ProcessHarness extends ClusterHarness {
  /** Starts node i again, on the same ports, after `kill(i)` or `stop(i)`: a new replica of that node. */
  restart(i: number): Promise<void>;
  /** Stops node i as a deploy would (SIGTERM: drained, handed over) and waits until it exited. */
  stop(i: number): Promise<void>;
  /** The broker under the nodes (null on the mesh). */
  readonly broker: Broker | null;
}

/** `extra`: more settings of the driver's section; `app`: more settings of the test app. */
export function processCluster(
  kind: ClusterKind,
  extra: Record<string, unknown> = {},
  app: Record<string, unknown> = {},
) {
  return async (n: number, webhookUrl: string): Promise<ProcessHarness> => {
    const broker = kind === 'mesh' ? null : await startBroker(kind);
    const clusterOf = await clusterConfigs(kind, broker, n, extra);
    const apps = [
      testApp({
        webhooks: [
          { url: webhookUrl, events: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'] },
        ],
        ...app,
      }),
    ];
    const configs: Array<Record<string, unknown>> = [];
    const nodes: ServerProcess[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const raw = {
          nodeId: `node${i}`,
          cluster: clusterOf(i),
          apps,
          shutdownGraceMs: 1_000,
          logLevel: process.env.WM_TEST_LOG ?? 'info',
        };
        nodes.push(await spawnServer(raw));
        configs.push({ ...raw, port: nodes[i]!.port });
      }
    } catch (err) {
      // Nodes already started would otherwise outlive the failed setup, and their open output
      // pipes would keep the test process from ever exiting.
      for (const p of nodes) p.kill('SIGKILL');
      await Promise.all(nodes.map((p) => p.exited));
      await broker?.stop();
      throw err;
    }
    await sleep(HEARTBEAT_MS * 3);
    return {
      ports: nodes.map((p) => p.port),
      nodeTimeoutMs: NODE_TIMEOUT_MS,
      kill: async (i) => {
        nodes[i]!.kill('SIGKILL');
        await nodes[i]!.exited;
      },
      stop: async (i) => {
        nodes[i]!.kill('SIGTERM');
        await nodes[i]!.exited;
      },
      broker,
      restart: async (i) => {
        if (nodes[i]!.child.exitCode === null && nodes[i]!.child.signalCode === null)
          throw new Error(`node ${i} is still running`);
        nodes[i] = await spawnServer(configs[i]!);
      },
      brokerOutage: async (ms) => {
        if (!broker) throw new Error('the mesh has no broker to take away');
        await broker.kill();
        await sleep(ms);
        await broker.restart();
      },
      close: async () => {
        for (const p of nodes) if (p.child.exitCode === null) p.kill('SIGKILL');
        await Promise.all(nodes.map((p) => p.exited));
        await broker?.stop();
      },
    };
  };
}

/** The `cluster` section of node i. */
async function clusterConfigs(
  kind: ClusterKind,
  broker: Broker | null,
  n: number,
  extra: Record<string, unknown>,
): Promise<(i: number) => Record<string, unknown>> {
  const timing = { heartbeatMs: HEARTBEAT_MS, nodeTimeoutMs: NODE_TIMEOUT_MS };
  if (kind === 'redis') return () => ({ driver: 'redis', redis: { url: broker!.url, ...extra }, ...timing });
  if (kind === 'nats') return () => ({ driver: 'nats', nats: { servers: [broker!.url], ...extra }, ...timing });
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const peers = ports.map((p) => `127.0.0.1:${p}`);
  return (i) => ({
    driver: 'mesh',
    mesh: { port: ports[i], host: '127.0.0.1', peers, secret: MESH_SECRET, ...extra },
    ...timing,
  });
}
