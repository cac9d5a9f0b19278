/** Channel history across three `wiremesh start` processes over redis. */
import { historySuite, HISTORY_APP } from './history/suite.js';
import { processCluster } from './cluster/processes.js';

historySuite('redis, three processes', (n) => processCluster('redis', {}, HISTORY_APP)(n, 'http://127.0.0.1:9/hook'));
