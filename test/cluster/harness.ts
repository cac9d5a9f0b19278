/**
 * What the shared cluster suite needs from a set of nodes, whatever runs them: in-process nodes
 * over the memory bus (fast), or real `wiremesh start` processes over real Redis / NATS (truth).
 */
export interface ClusterHarness {
  /** HTTP/WebSocket ports of the nodes, in order. */
  ports: number[];
  /** Failure detection time the nodes were configured with. */
  nodeTimeoutMs: number;
  /** Stops node i abruptly (kill -9 / crash): no goodbye. */
  kill(i: number): Promise<void>;
  /** Takes the broker away for `ms`, then brings it back. */
  brokerOutage(ms: number): Promise<void>;
  close(): Promise<void>;
}

export type HarnessFactory = (n: number, webhookUrl: string) => Promise<ClusterHarness>;
