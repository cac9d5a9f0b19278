/**
 * How a node tells that its own event loop was blocked (a long GC, a starved CPU, a synchronous
 * task): a periodic timer fired late. While it was blocked, what the other nodes sent waited
 * unread in its sockets, so that time is excused from their silence (ClusterNode's heartbeats,
 * the mesh connections' keep-alive), as Cassandra's failure detector ignores its own pauses.
 */

/**
 * How long this process was blocked when a timer due at `due` (performance.now()) runs now:
 * 0 when it is less than half `periodMs` late, which is timer jitter, not a pause.
 */
export function blockedFor(due: number, periodMs: number, now = performance.now()): number {
  const late = now - due;
  return late >= periodMs / 2 ? late : 0;
}
