/** Channel history in NATS JetStream under chaos: three `wiremesh start` processes over one `nats-server -js`. */
import { processCluster } from './cluster/processes.js';
import { CHAOS_APP, chaosSuite } from './history/chaos-suite.js';

chaosSuite('nats, JetStream store', (n) => processCluster('nats', {}, CHAOS_APP)(n, 'http://127.0.0.1:9/hook'));
