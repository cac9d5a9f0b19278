/**
 * `ws` transport: frames for a client whose socket is backed up (kernel buffers full, Node's
 * past its high-water mark) are held as one list and sent in one write on `drain`
 * (src/transport/ws.ts, `WsClient.hold`). A raw client that stops reading while far more than
 * the kernel's buffers is published, and that meanwhile subscribes to a presence channel (a reply
 * sent to it alone, in pieces, not a publish), gets everything once it reads again: every event in order,
 * the reply between the events published before and after it, nothing lost or doubled; its held
 * bytes count towards `maxBufferedBytes`; and a graceful stop sends what is held before 4200.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { serverSdk, until } from './helpers/clients.js';
import { APP_PATH, WireClient } from './helpers/fuzz-wire.js';
import { APP, startTestServer, testApp } from './helpers/server.js';

const EVENT_BYTES = 10 * 1024;

/**
 * More than the kernel's buffers of one loopback connection take, in events: the server socket's
 * send buffer (tcp_wmem max) and the client's receive buffer, which does not grow while unread.
 */
function beyondKernel(): number {
  const wmem = Math.max(...readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/).map(Number));
  return Math.ceil((1.5 * (wmem + (1 << 20))) / EVENT_BYTES);
}

async function stalled(port: number): Promise<{ c: WireClient; seen: string[] }> {
  const c = await WireClient.open(port, APP_PATH(APP.key));
  const seen: string[] = [];
  c.onText = (text) => {
    const m = JSON.parse(text) as { event: string; channel?: string; data?: string };
    if (m.event === 'feed') seen.push(`e${(JSON.parse(m.data!) as { i: number }).i}`);
    else if (m.event === 'pusher_internal:subscription_succeeded') {
      const presence = (JSON.parse(m.data!) as { presence?: { ids: string[] } }).presence;
      seen.push(presence ? `sub:${m.channel}:${presence.ids.join()}` : `sub:${m.channel}`);
    }
  };
  await c.sendText(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'feed' } }));
  await until(() => seen.includes('sub:feed'), 'subscribed to feed', 3_000);
  seen.length = 0;
  c.socket.pause();
  return { c, seen };
}

async function publish(port: number, from: number, count: number): Promise<void> {
  const sdk = serverSdk(port);
  const pad = 'x'.repeat(EVENT_BYTES - 40);
  for (let i = from; i < from + count; i += 10) {
    const n = Math.min(10, from + count - i);
    await sdk.triggerBatch(
      Array.from({ length: n }, (_, k) => ({ channel: 'feed', name: 'feed', data: JSON.stringify({ i: i + k, pad }) })),
    );
  }
}

describe('ws transport: frames held for a backed-up client', () => {
  it('arrive complete and in order once it reads again, a reply to it alone in its place', async () => {
    const srv = await startTestServer({
      transport: 'ws',
      limits: { maxBufferedBytes: 256 * 1024 * 1024 },
      apps: [testApp({ maxEventPayloadBytes: 16 * 1024 })],
    });
    try {
      const { c, seen } = await stalled(srv.port);
      const before = beyondKernel();
      await publish(srv.port, 0, before);
      // A presence channel: its reply is sent in pieces (the member list is shared), held as they are.
      const channelData = JSON.stringify({ user_id: 'held', user_info: { pad: 'y'.repeat(500) } });
      const sig = createHmac('sha256', APP.secret).update(`${c.socketId}:presence-other:${channelData}`).digest('hex');
      await c.sendText(
        JSON.stringify({
          event: 'pusher:subscribe',
          data: { channel: 'presence-other', auth: `${APP.key}:${sig}`, channel_data: channelData },
        }),
      );
      await new Promise((r) => setTimeout(r, 200)); // the reply is queued before the next events
      await publish(srv.port, before, 50);
      c.socket.resume();
      const total = before + 50;
      await until(() => seen.length === total + 1, `all ${total + 1} frames`, 20_000);
      const expected = [
        ...Array.from({ length: before }, (_, i) => `e${i}`),
        'sub:presence-other:held',
        ...Array.from({ length: 50 }, (_, i) => `e${before + i}`),
      ];
      assert.deepEqual(seen, expected);
    } finally {
      await srv.close();
    }
  });

  it('held bytes count towards maxBufferedBytes: a client that does not read is closed with 4100', async () => {
    const srv = await startTestServer({
      transport: 'ws',
      limits: { maxBufferedBytes: 1024 * 1024 },
      apps: [testApp({ maxEventPayloadBytes: 16 * 1024 })],
    });
    try {
      const { c } = await stalled(srv.port);
      // Kernel buffers + 2 MiB (the allowance and its burst factor) + slack, then the close.
      await publish(srv.port, 0, beyondKernel() + Math.ceil((3 * 1024 * 1024) / EVENT_BYTES));
      c.socket.resume();
      await until(() => c.ended, 'closed', 10_000);
      assert.equal(c.closeCode, 4100);
    } finally {
      await srv.close();
    }
  });

  it('a graceful stop sends what is held, then 4200', async () => {
    const srv = await startTestServer({
      transport: 'ws',
      limits: { maxBufferedBytes: 256 * 1024 * 1024 },
      apps: [testApp({ maxEventPayloadBytes: 16 * 1024 })],
    });
    const { c, seen } = await stalled(srv.port);
    const count = beyondKernel();
    await publish(srv.port, 0, count);
    const closing = srv.server.stop('graceful');
    await new Promise((r) => setTimeout(r, 100));
    c.socket.resume();
    await until(() => c.ended, 'closed', 20_000);
    await closing;
    assert.equal(c.closeCode, 4200);
    assert.deepEqual(
      seen,
      Array.from({ length: count }, (_, i) => `e${i}`),
    );
  });
});
