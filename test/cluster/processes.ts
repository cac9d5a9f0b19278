/** Real `wiremesh start` processes clustered over a real Redis or NATS server started for the test. */
import { startBroker, type BrokerKind } from '../helpers/brokers.js';
import { spawnServer, testApp, type ServerProcess } from '../helpers/server.js';
import { sleep } from '../helpers/clients.js';
import type { HarnessFactory } from './harness.js';

const HEARTBEAT_MS = 200;
const NODE_TIMEOUT_MS = 1_000;

export function processCluster(kind: BrokerKind, extra: Record<string, unknown> = {}): HarnessFactory {
  return async (n, webhookUrl) => {
    const broker = await startBroker(kind);
    const cluster =
      kind === 'redis'
        ? { driver: 'redis', redis: { url: broker.url, ...extra }, heartbeatMs: HEARTBEAT_MS, nodeTimeoutMs: NODE_TIMEOUT_MS }
        : { driver: 'nats', nats: { servers: [broker.url], ...extra }, heartbeatMs: HEARTBEAT_MS, nodeTimeoutMs: NODE_TIMEOUT_MS };
    const apps = [
      testApp({ webhooks: [{ url: webhookUrl, events: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'] }] }),
    ];
    const nodes: ServerProcess[] = [];
    for (let i = 0; i < n; i++) {
      nodes.push(await spawnServer({ nodeId: `node${i}`, cluster, apps, shutdownGraceMs: 1_000, logLevel: 'info' }));
    }
    await sleep(HEARTBEAT_MS * 3);
    return {
      ports: nodes.map((p) => p.port),
      nodeTimeoutMs: NODE_TIMEOUT_MS,
      kill: async (i) => {
        nodes[i]!.kill('SIGKILL');
        await nodes[i]!.exited;
      },
      brokerOutage: async (ms) => {
        await broker.kill();
        await sleep(ms);
        await broker.restart();
      },
      close: async () => {
        for (const p of nodes) if (p.child.exitCode === null) p.kill('SIGKILL');
        await Promise.all(nodes.map((p) => p.exited));
        await broker.stop();
      },
    };
  };
}
