/** The cluster suite over three `wiremesh start` processes and a real redis-server. */
import { clusterSuite } from './cluster/suite.js';
import { processCluster } from './cluster/processes.js';

clusterSuite('redis, three processes', processCluster('redis'));
