/** Channel history across in-process nodes on the memory bus. */
import { historySuite, HISTORY_APP } from './history/suite.js';
import { startTestCluster, FAST_CLUSTER } from './helpers/cluster.js';
import { testApp } from './helpers/server.js';
import { sleep } from './helpers/clients.js';

historySuite('memory bus, in-process', async (n) => {
  const c = await startTestCluster(n, { apps: [testApp(HISTORY_APP)], logLevel: 'warn' });
  await sleep(300);
  return {
    ports: c.nodes.map((s) => s.port),
    nodeTimeoutMs: FAST_CLUSTER.nodeTimeoutMs,
    kill: (i) => c.nodes[i]!.server.stop('crash'),
    brokerOutage: () => Promise.reject(new Error('not used')),
    close: () => c.close(),
  };
});
