/** Several wiremesh nodes in one process over an in-memory bus: fast multi-node tests. */
import { MemoryBus } from '../../src/cluster/backends/memory.js';
import { startTestServer, type TestServer } from './server.js';

export interface TestCluster {
  bus: MemoryBus;
  nodes: TestServer[];
  close(): Promise<void>;
}

/** Fast failure detection for tests: heartbeat 100 ms, node timeout 500 ms. */
export const FAST_CLUSTER = { driver: 'memory', heartbeatMs: 100, nodeTimeoutMs: 500 };

export async function startTestCluster(n: number, raw: Record<string, unknown> = {}): Promise<TestCluster> {
  const bus = new MemoryBus();
  const nodes: TestServer[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push(await startTestServer({ nodeId: `node${i}`, cluster: FAST_CLUSTER, ...raw }, { bus }));
  }
  return {
    bus,
    nodes,
    close: async () => {
      await Promise.all(nodes.map((s) => s.close()));
    },
  };
}
