/** The cluster suite over three `wiremesh start` processes and a real nats-server. */
import { clusterSuite } from './cluster/suite.js';
import { processCluster } from './cluster/processes.js';

clusterSuite('nats, three processes', processCluster('nats'));
