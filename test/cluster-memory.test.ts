/** The cluster suite over in-process nodes sharing an in-memory bus. */
import { clusterSuite } from './cluster/suite.js';
import { startTestCluster, FAST_CLUSTER } from './helpers/cluster.js';
import { testApp } from './helpers/server.js';
import { sleep } from './helpers/clients.js';

clusterSuite('memory bus, in-process', async (n, webhookUrl) => {
  const c = await startTestCluster(n, {
    apps: [
      testApp({
        webhooks: [
          { url: webhookUrl, events: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'] },
        ],
      }),
    ],
  });
  await sleep(300);
  return {
    ports: c.nodes.map((s) => s.port),
    nodeTimeoutMs: FAST_CLUSTER.nodeTimeoutMs,
    kill: (i) => c.nodes[i]!.server.stop('crash'),
    brokerOutage: async (ms) => {
      c.bus.setDown(true);
      await sleep(ms);
      c.bus.setDown(false);
    },
    close: () => c.close(),
  };
});
