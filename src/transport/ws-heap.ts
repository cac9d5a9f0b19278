/**
 * V8's young generation on Node 22/24 grows its semi-spaces (2× at a time, up to 32 MiB each on
 * this class of machine) whenever many young objects survive a scavenge, and does not give the
 * pages back while the process stays busy. A burst of WebSocket connects is exactly that pattern
 * (every connection's state survives), so after 5,000 connects the young generation alone held
 * ~55 MiB: more than half of what the `ws` transport's RSS grew by (docs/transport.md, "Memory
 * per connection"). Stopping the growth keeps the young generation at the size start-up left it
 * (a few MiB): scavenges run more often but each copies as little as before, and the connect and
 * fan-out figures did not get worse (bench/RESULTS.md). uWebSockets.js keeps its per-socket state
 * outside the JS heap, so the native transport does not need this.
 */
import v8 from 'node:v8';

let applied = false;

/** Stops V8 from growing the young generation from now on (process-wide; once). */
export function keepYoungGenerationSmall(): void {
  if (applied) return;
  applied = true;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
