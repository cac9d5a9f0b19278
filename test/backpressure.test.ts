/**
 * A client that stops reading never makes the server's memory grow without bound, on both
 * transports: with `limits.maxBufferedBytes` at 256 KiB, a raw subscriber that pauses its socket
 * while the SDK publishes thousands of ~10 KB events is closed (4100 on `ws`; on `uws` a publish
 * backlog is cut without a close frame, 1006, see docs/transport.md) within a bounded number of
 * events; the server's memory stays flat; and a normal pusher-js subscriber on the same channel
 * receives every event, in order.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connected, pusherClient, serverSdk, until, type PusherClient } from './helpers/clients.js';
import { heapAfterGc, LogWatch, metric, mib, ProcessWatch } from './helpers/fuzz-watch.js';
import { APP_PATH, WireClient } from './helpers/fuzz-wire.js';
import { APP, startTestServer, testApp } from './helpers/server.js';
import { loadUws } from '../src/transport/uws.js';

const CHANNEL = 'bp-feed';
const EVENT = 'bp-event';
const MAX_BUFFERED = 256 * 1024;
const EVENT_BYTES = 10 * 1024;
const BATCH = 10;
/** Published in all: 50 MB, far more than the kernel's socket buffers and the 256 KiB allowance together. */
const TOTAL_EVENTS = 5_000;

let uwsSkip: string | false = false;
try {
  await loadUws();
} catch (err) {
  uwsSkip = `uWebSockets.js not loadable here: ${err instanceof Error ? err.message : String(err)}`;
}

/** Largest value of a /proc/sys tuple such as tcp_wmem ("min default max"), or `fallback`. */
function sysctlMax(path: string, fallback: number): number {
  try {
    return Math.max(...readFileSync(path, 'utf8').trim().split(/\s+/).map(Number));
  } catch {
    return fallback;
  }
}

/**
 * How many events a stalled client can swallow before the server itself must hold more than
 * `maxBufferedBytes` for it: the kernel's buffers on both ends (send buffer of the server socket,
 * receive buffer of the client socket, which does not grow while it is not read), the allowance
 * and uWS's 64 KiB headroom, in events, twice over for slack.
 */
function closeBound(): number {
  const kernel = sysctlMax('/proc/sys/net/ipv4/tcp_wmem', 4 << 20) + (1 << 20);
  return Math.ceil((2 * (kernel + MAX_BUFFERED + 64 * 1024)) / EVENT_BYTES);
}

/** A raw client subscribed to CHANNEL that then stops reading: its socket is paused. */
async function stalledSubscriber(port: number): Promise<{ c: WireClient; events: () => number }> {
  const c = await WireClient.open(port, APP_PATH(APP.key));
  assert.ok(c.socketId, 'the stalled client connected');
  let subscribed = false;
  let events = 0;
  c.onText = (text) => {
    if (text.includes('pusher_internal:subscription_succeeded')) subscribed = true;
    else if (text.includes(`"event":"${EVENT}"`)) events++;
  };
  await c.sendText(JSON.stringify({ event: 'pusher:subscribe', data: { channel: CHANNEL } }));
  assert.ok(await c.until(() => subscribed, 3_000), 'the stalled client subscribed');
  c.socket.pause();
  return { c, events: () => events };
}

const MIB = 1024 * 1024;

interface Sample {
  /** Events published when it was taken. */
  at: number;
  /** heapUsed + external after a full GC: what the process still holds. */
  retained: number;
  rss: number;
}

function sample(at: number): Sample {
  const m = heapAfterGc();
  return { at, retained: m.heapUsed + m.external, rss: m.rss };
}

async function readingSubscriber(port: number): Promise<{ client: PusherClient; ids: number[] }> {
  const client = pusherClient(port);
  await connected(client);
  const ids: number[] = [];
  const channel = client.subscribe(CHANNEL) as unknown as {
    subscribed: boolean;
    bind(e: string, cb: (d: { i: number }) => void): void;
  };
  channel.bind(EVENT, (d) => ids.push(d.i));
  await until(() => channel.subscribed, 'the reading client subscribed');
  return { client, ids };
}

async function stalled(t: TestContext, transport: 'ws' | 'uws'): Promise<void> {
  const srv = await startTestServer({
    transport,
    limits: { maxBufferedBytes: MAX_BUFFERED },
    apps: [testApp({ maxEventPayloadBytes: 16 * 1024 })],
  });
  const watch = new ProcessWatch();
  const logs = new LogWatch(srv);
  let reader: { client: PusherClient; ids: number[] } | undefined;
  let slow: { c: WireClient; events: () => number } | undefined;
  try {
    reader = await readingSubscriber(srv.port);
    const { ids } = reader;
    const stuck = (slow = await stalledSubscriber(srv.port));
    const sdk = serverSdk(srv.port);
    const pad = 'x'.repeat(EVENT_BYTES - 40);
    const before = sample(0);
    const samples: Sample[] = [];
    // Deliveries per batch tell when the server stopped writing to the stalled client: 2 per event
    // while it is served, 1 once it was closed (or cut).
    let sent = await metric(srv.port, 'wiremesh_ws_messages_sent_total');
    let closedAt = -1;
    let published = 0;
    while (published < TOTAL_EVENTS) {
      const batch = Array.from({ length: BATCH }, (_, k) => ({
        channel: CHANNEL,
        name: EVENT,
        data: JSON.stringify({ i: published + k, pad }),
      }));
      await sdk.triggerBatch(batch);
      published += BATCH;
      // The reading client keeps up: at most one batch (100 KB) in flight, well under the allowance.
      await until(() => ids.length === published, `the reading client got event ${published - 1}`, 5_000);
      if (closedAt < 0) {
        const now = await metric(srv.port, 'wiremesh_ws_messages_sent_total');
        if (now - sent < 2 * BATCH) {
          closedAt = published;
          // Reading again at once lets the close frame (queued behind the backlog, if any) arrive.
          stuck.c.socket.resume();
        }
        sent = now;
      }
      if (published % 500 === 0) samples.push(sample(published));
    }
    await until(() => stuck.c.ended, 'the stalled client was disconnected', 10_000);
    const code = stuck.c.closeCode ?? 1006;
    const last = samples.at(-1)!;
    // Memory from 1,000 events after the close on, while another ~35 MB are published: must stay flat.
    const steady = samples.find((m) => m.at >= closedAt + 1_000) ?? last;
    const peak = (key: 'retained' | 'rss'): number => Math.max(...samples.map((m) => m[key]));
    const summary =
      `${transport}: stalled client closed after ${closedAt} events (bound ${closeBound()}) with ${code}, having read ${stuck.events()}; ` +
      `reading client got ${ids.length}/${published}; after GC heap+external / rss at events published: ` +
      [before, ...samples].map((m) => `${m.at}: ${mib(m.retained)} / ${mib(m.rss)}`).join(', ');
    t.diagnostic(summary);

    assert.ok(closedAt > 0, `the stalled client was closed within ${TOTAL_EVENTS} events`);
    assert.ok(closedAt <= closeBound(), `closed after ${closedAt} events, more than ${closeBound()}`);
    assert.ok(stuck.events() < closedAt, 'the stalled client did not get everything sent before its close');
    if (transport === 'ws') {
      assert.equal(code, 4100);
      assert.ok(stuck.events() > 0, 'the backlog ahead of the close frame arrived, as text frames');
    } else {
      assert.ok(code === 4100 || code === 1006, `closed with ${code}`);
    }
    assert.deepEqual(
      ids,
      Array.from({ length: published }, (_, i) => i),
      'the reading client got every event, in order',
    );
    assert.equal(await metric(srv.port, 'wiremesh_connections'), 1, 'only the reading client is still connected');
    assert.ok(
      peak('retained') - before.retained < 16 * MIB,
      `heap+external peaked ${mib(peak('retained') - before.retained)} above the start`,
    );
    assert.ok(
      last.retained - steady.retained < 4 * MIB,
      `heap+external grew by ${mib(last.retained - steady.retained)} after the close`,
    );
    assert.ok(last.rss - steady.rss < 24 * MIB, `rss grew by ${mib(last.rss - steady.rss)} after the close`);
    assert.ok(peak('rss') - before.rss < 96 * MIB, `rss peaked ${mib(peak('rss') - before.rss)} above the start`);
    logs.drain();
    assert.deepEqual(logs.errors, [], 'the server logged no error');
    assert.deepEqual(watch.failures, []);
  } finally {
    reader?.client.disconnect();
    slow?.c.destroy();
    logs.dispose();
    watch.dispose();
    await srv.close();
  }
}

describe('a client that stops reading', () => {
  test(
    'ws transport: is closed with 4100, memory stays bounded, a reading subscriber loses nothing',
    { timeout: 30_000 },
    (t) => stalled(t, 'ws'),
  );
  test(
    'uws transport: is cut off, memory stays bounded, a reading subscriber loses nothing',
    { skip: uwsSkip, timeout: 30_000 },
    (t) => stalled(t, 'uws'),
  );
});
