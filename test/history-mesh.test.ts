/** Channel history across three `wiremesh start` processes over mesh. */
import { historySuite, HISTORY_APP } from './history/suite.js';
import { processCluster } from './cluster/processes.js';

historySuite('mesh, three processes', (n) => processCluster('mesh', {}, HISTORY_APP)(n, 'http://127.0.0.1:9/hook'));
