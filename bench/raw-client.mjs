/**
 * A raw Pusher-protocol WebSocket client for the benches (no pusher-js: its own cost would be in
 * the figures). Every frame is parsed and queued until `next(pred)` takes it; `count()` says how
 * many frames had the event `counted` (fan-out benches count deliveries without queueing them).
 */
import WebSocket from 'ws';

export function rawClient(port, { counted } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/app-key?protocol=7`);
  const queue = [];
  let waiter = null;
  let count = 0;
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.event === counted) count++;
    if (waiter && waiter.pred(m)) {
      const w = waiter;
      waiter = null;
      w.resolve(m);
    } else queue.push(m);
  });
  const next = (pred) =>
    new Promise((resolve) => {
      const i = queue.findIndex(pred);
      if (i >= 0) return resolve(queue.splice(i, 1)[0]);
      waiter = { pred, resolve };
    });
  return { ws, next, queue, count: () => count };
}
