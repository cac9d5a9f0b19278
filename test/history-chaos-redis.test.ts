/** Channel history in Redis Streams under chaos: three `wiremesh start` processes over one redis-server. */
import { processCluster } from './cluster/processes.js';
import { CHAOS_APP, chaosSuite } from './history/chaos-suite.js';

chaosSuite('redis, broker store', (n) => processCluster('redis', {}, CHAOS_APP)(n, 'http://127.0.0.1:9/hook'));
