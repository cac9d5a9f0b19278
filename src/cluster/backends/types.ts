/**
 * A cluster backend carries opaque payloads between nodes on named subjects, and nothing else: it
 * knows nothing of Pusher, presence or membership (those live once, above it, in cluster/).
 *
 * Guarantees every backend gives:
 * - At most once: a payload published while the backend is disconnected may be lost; it is never
 *   delivered twice.
 * - FIFO per publisher per subject: two payloads one node publishes on one subject arrive in that
 *   order at every receiver that gets both.
 * - A node only receives subjects it subscribed to; whether it receives its own publications is
 *   unspecified (envelopes carry the origin and receivers drop their own).
 * - Subscriptions survive reconnects: the backend re-subscribes by itself and reports
 *   `connectionChanged(true)` once it is back, so the layer above can resynchronise.
 */
export interface BackendHandler {
  /**
   * A payload on a subscribed subject. `peer`: the connection it came by, for a backend that
   * links nodes directly (the mesh: the peer's instance id); undefined through a broker.
   */
  message(subject: string, payload: Buffer, peer?: string): void;
  connectionChanged(up: boolean): void;
  /**
   * A direct backend's connection to `peer` closed (the mesh): whoever sent over it is gone now,
   * not after the heartbeat timeout. Never called through a broker.
   */
  peerGone?(peer: string): void;
}

export interface ClusterBackend {
  readonly name: string;
  /** Connects; resolves once subscriptions can be made and publishes will be carried. */
  connect(handler: BackendHandler): Promise<void>;
  publish(subject: string, payload: Buffer): void;
  subscribe(subject: string): void;
  unsubscribe(subject: string): void;
  close(): Promise<void>;
}
