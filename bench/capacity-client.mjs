#!/usr/bin/env node
/**
 * One client process of bench/capacity.mjs (forked, IPC): opens sockets [from, to) to the server,
 * socket i from loopback source address `sources[i % S]` and source port `portBase + ⌊i / S⌋`,
 * at most `concurrency` handshakes in flight. The source port is chosen here, not by the kernel:
 * bind(address, 0) searches the port range for a port free on that address, and with tens of
 * thousands of sockets bound that search dominated the host's CPU (kernel profile:
 * inet_bind2_bucket_find, inet_bhash2_conflict), cutting the connect rate tenfold past ~55,000.
 * A port taken on that address (EADDRINUSE) is retried from this process's spare ports. Every socket subscribes to the big public
 * channel; every `ownEvery`-th also to its own private channel (signed here with the app secret).
 * Answers `pusher:ping`, counts the broadcast event and keeps each socket's receipt time.
 * Reports progress to the coordinator; not a CLI for anything else.
 */
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';

const opts = JSON.parse(process.argv[2]);
const { port, from, to, sources, portBase, spareFrom, spareTo, concurrency, ownEvery, key, secret, bigChannel, event } =
  opts;
let spare = spareFrom;
const url = `ws://127.0.0.1:${port}/app/${key}?protocol=7&client=capacity&version=1`;

const counts = { opened: 0, subscribed: 0, errors: 0, closed: 0, received: 0, refused: 0, retried: 0 };
const firstError = { message: '' };
let openedAt = 0; // when the last socket of this process was established
let subscribedAt = 0;
const receivedAt = [];
const expected = to - from;
let next = from;
let inFlight = 0;
const sockets = [];

function open(i, localPort = portBase + Math.floor(i / sources.length)) {
  inFlight++;
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    inFlight--;
    pump();
  };
  let replaced = false; // retried from another source port: this socket's close is not counted
  const own = ownEvery > 0 && i % ownEvery === 0;
  let pending = own ? 2 : 1;
  const ws = new WebSocket(url, {
    localAddress: sources[i % sources.length],
    localPort,
    perMessageDeflate: false,
    skipUTF8Validation: true,
  });
  sockets.push(ws);
  ws.on('error', (err) => {
    if (err.code === 'EADDRINUSE' && spare < spareTo && !settled) {
      // That source port is taken on that address (by another program): once more from a spare one.
      settled = true;
      replaced = true;
      inFlight--;
      counts.retried++;
      open(i, spare++);
      return;
    }
    counts.errors++;
    if (!firstError.message) firstError.message = `${err.code ?? ''} ${err.message}`.trim();
    settle();
  });
  ws.on('close', (code) => {
    if (replaced) return;
    counts.closed++;
    if (code === 4100) counts.refused++;
    settle();
  });
  ws.on('message', (data) => {
    const f = JSON.parse(data.toString());
    switch (f.event) {
      case 'pusher:connection_established': {
        if (++counts.opened === expected) openedAt = Date.now();
        settle();
        ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: bigChannel } }));
        if (own) {
          const socketId = JSON.parse(f.data).socket_id;
          const channel = `private-user-${i}`;
          const sig = createHmac('sha256', secret).update(`${socketId}:${channel}`).digest('hex');
          ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, auth: `${key}:${sig}` } }));
        }
        break;
      }
      case 'pusher_internal:subscription_succeeded':
        if (--pending === 0 && ++counts.subscribed === expected) subscribedAt = Date.now();
        break;
      case 'pusher:ping':
        ws.send('{"event":"pusher:pong","data":{}}');
        break;
      case 'pusher:error':
        counts.errors++;
        if (!firstError.message) firstError.message = `pusher:error ${JSON.stringify(f.data)}`;
        break;
      default:
        if (f.event === event) {
          counts.received++;
          receivedAt.push(Date.now());
        }
    }
  });
}

function pump() {
  while (inFlight < concurrency && next < to) open(next++);
}

const report = () => process.send({ type: 'progress', ...counts, openedAt, subscribedAt, error: firstError.message });
const ticker = setInterval(report, 500);

process.on('message', (m) => {
  if (m.type === 'start') pump();
  else if (m.type === 'received') {
    // This broadcast's receipt times; the next one starts a new list.
    process.send({ type: 'received', times: receivedAt.splice(0), memory: process.memoryUsage().rss });
  } else if (m.type === 'stop') {
    clearInterval(ticker);
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 200);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });
