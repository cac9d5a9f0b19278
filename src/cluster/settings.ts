/**
 * The one place the cluster's timing settings are derived from the config, with the failure
 * settings checked against each other (as Phoenix.Tracker does at start): a node must miss at
 * least two heartbeats before it counts as down, and is forgotten only well after that.
 */
import type { ClusterConfig } from '../config/schema.js';

export interface ClusterSettings {
  /** Subject prefix on the broker. */
  prefix: string;
  heartbeatMs: number;
  nodeTimeoutMs: number;
  /** How long after a graceful leave the others keep the node's presence entries. */
  handoffMs: number;
  /** A down node is forgotten after this long. */
  forgetAfterMs: number;
  /** Local presence changes are sent after at most this delay (batched). */
  deltaDelayMs: number;
}

export const FORGET_AFTER_MS = 5 * 60_000;
export const DELTA_DELAY_MS = 5;

export function clusterSettings(c: ClusterConfig): ClusterSettings {
  const s: ClusterSettings = {
    prefix: c.driver === 'nats' ? c.nats.prefix : c.redis.prefix,
    heartbeatMs: c.heartbeatMs,
    nodeTimeoutMs: c.nodeTimeoutMs,
    handoffMs: c.nodeTimeoutMs,
    forgetAfterMs: FORGET_AFTER_MS,
    deltaDelayMs: DELTA_DELAY_MS,
  };
  // The config schema refuses these with a precise message; this guards callers that bypass it.
  if (!(s.heartbeatMs > 0)) throw new RangeError(`cluster.heartbeatMs must be positive (got ${s.heartbeatMs})`);
  if (s.nodeTimeoutMs < 2 * s.heartbeatMs) {
    throw new RangeError(
      `cluster.nodeTimeoutMs (${s.nodeTimeoutMs}) must be at least twice cluster.heartbeatMs (${s.heartbeatMs})`,
    );
  }
  if (s.forgetAfterMs <= s.nodeTimeoutMs) {
    throw new RangeError(
      `the forget period (${s.forgetAfterMs} ms) must be longer than cluster.nodeTimeoutMs (${s.nodeTimeoutMs})`,
    );
  }
  return s;
}
