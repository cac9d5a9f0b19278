/**
 * A TCP proxy that adds network latency on this machine, for the round-trip benchmarks
 * (livewire-rtt.mjs, laravel-rtt.mjs); not a benchmark itself.
 */
import net from 'node:net';
import { once } from 'node:events';

/**
 * A TCP proxy to `target` that delays every piece of data by `oneWayMs` in each direction, in
 * order. A new connection's first bytes wait one more round trip: the TCP handshake a real
 * network would cost (the local accept here is instant).
 */
export async function delayProxy(targetPort, oneWayMs) {
  // No Nagle on either side, as browsers and servers set: a request written in two pieces would
  // otherwise wait for the delayed ACK of the first (~40 ms on Linux), which no real path adds.
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1', noDelay: true });
    const handshakeDone = performance.now() + 2 * oneWayMs;
    const pipe = (from, to, notBefore) => {
      let last = 0;
      const later = (fn) => {
        if (oneWayMs === 0) return fn();
        // Propagation, not serialization: a piece sent right after another arrives right after
        // it, not one more delay later (and never before it: TCP keeps the order).
        const at = Math.max(last, Math.max(notBefore, performance.now()) + oneWayMs);
        last = at;
        setTimeout(fn, Math.ceil(at - performance.now()));
      };
      from.on('data', (d) => later(() => to.write(d)));
      from.on('end', () => later(() => to.end()));
      from.on('error', () => to.destroy());
    };
    pipe(client, upstream, handshakeDone);
    pipe(upstream, client, 0);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: server.address().port, close: () => server.close() };
}
