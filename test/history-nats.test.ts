/** Channel history across three `wiremesh start` processes over nats. */
import { historySuite, HISTORY_APP } from './history/suite.js';
import { processCluster } from './cluster/processes.js';

historySuite('nats, three processes', (n) => processCluster('nats', {}, HISTORY_APP)(n, 'http://127.0.0.1:9/hook'));
