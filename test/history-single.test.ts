/** Channel history on a single node: resume after a dropped socket, gaps, plain clients untouched. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSdk, sleep, until, pusherClient } from './helpers/clients.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';
import { StreamClient, missingOrExtra } from './history/stream-client.js';
import { RawClient } from './helpers/ws-raw.js';
import { isStart } from './history/broker-client.js';
import { APP } from './helpers/server.js';

describe('channel history, one node', () => {
  let s: TestServer;
  const clients: StreamClient[] = [];
  before(async () => {
    s = await startTestServer({
      apps: [testApp({ history: { channels: ['hist-*'], maxEvents: 50, maxAgeMs: 60_000 } })],
      // The resume-loop test sends ~400 frames at once: above the frame-rate bucket, which would close the socket first.
      limits: { maxFrameBurst: 1_200 },
    });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await s.close();
  });

  test('a client whose socket drops gets every event once, in order, while the publisher keeps sending', async () => {
    const channel = `hist-${Date.now().toString(36)}`;
    const c = await StreamClient.start(s.port);
    clients.push(c);
    c.subscribe(channel);
    await c.subscribed();
    const sdk = serverSdk(s.port);
    for (let n = 1; n <= 40; n++) {
      await sdk.trigger(channel, 'n', { n });
      if (n === 10 || n === 25) {
        await c.reconnected();
        c.drop();
      }
    }
    await until(() => (c.got.get(channel)?.length ?? 0) >= 40, '40 events', 10_000);
    await sleep(100);
    assert.equal(missingOrExtra(c.got.get(channel)!, 40), null);
    assert.deepEqual(c.gaps.get(channel), []);
    assert.equal(c.proxy.connections, 3, 'it reconnected twice');
    assert.ok((c.resumed.get(channel) ?? 0) > 0, 'missed events were replayed');
  });

  test('a gap longer than the history is reported, and live events follow', async () => {
    const channel = `hist-gap-${Date.now().toString(36)}`;
    const c = await StreamClient.start(s.port);
    clients.push(c);
    c.subscribe(channel);
    await c.subscribed();
    const sdk = serverSdk(s.port);
    await sdk.trigger(channel, 'n', { n: 1 });
    await until(() => c.got.get(channel)!.length === 1, 'first event');
    c.proxy.target = 9; // discard port: the reconnect fails until it points back
    c.drop();
    for (let n = 2; n <= 80; n++) await sdk.trigger(channel, 'n', { n });
    c.drop(s.port);
    await until(() => c.gaps.get(channel)!.length === 1, 'the gap event', 15_000);
    assert.deepEqual(c.gaps.get(channel), ['too_old']);
    await sdk.trigger(channel, 'n', { n: 81 });
    await until(() => c.got.get(channel)!.includes(81), 'live after the gap');
    assert.deepEqual(c.got.get(channel), [1, 81]);
  });

  test('resume requests are bounded: a malformed position, and a client that resubscribes in a loop, get a gap', async () => {
    const channel = `hist-raw-${Date.now().toString(36)}`;
    const raw = new RawClient(`${s.wsUrl}/app/${APP.key}?protocol=7`);
    await raw.established();
    raw.send({ event: 'pusher:subscribe', data: { channel, wm_resume: 'not a position' } });
    const gap = await raw.next((f) => f.event === 'wiremesh:gap', 'gap for a malformed position');
    assert.deepEqual(JSON.parse(gap.data as string), { reason: 'reset' });
    for (let i = 0; i < 520; i++) {
      raw.send({ event: 'pusher:unsubscribe', data: { channel } });
      raw.send({ event: 'pusher:subscribe', data: { channel, wm_resume: 'new' } });
    }
    await raw.roundTrip();
    const positions = raw.frames.filter(isStart).length;
    const gaps = raw.frames.filter((f) => f.event === 'wiremesh:gap').map((f) => JSON.parse(f.data as string).reason);
    // The address's bucket: 500 at once, 50 more a second (a few may refill while the loop runs).
    assert.ok(positions >= 500 && positions < 510, `the first ~500 resumes are answered (${positions})`);
    assert.equal(gaps[0], 'reset');
    assert.ok(gaps.length > 10 && gaps.slice(1).every((g) => g === 'unavailable'), 'the rest get a gap');
    assert.ok(s.logs.some((l) => l.includes('too many resumes from one client address')));
    await serverSdk(s.port).trigger(channel, 'n', { n: 1 });
    await raw.next((f) => f.event === 'n', 'live events still arrive');
    // A new connection from the same address does not start from a full budget.
    const again = new RawClient(`${s.wsUrl}/app/${APP.key}?protocol=7`);
    await again.established();
    for (let i = 0; i < 100; i++) {
      again.send({ event: 'pusher:unsubscribe', data: { channel } });
      again.send({ event: 'pusher:subscribe', data: { channel, wm_resume: 'new' } });
    }
    await again.roundTrip();
    const answered = again.frames.filter(isStart).length;
    assert.ok(answered < 50, `the bucket refills at 50/s, whatever the connection (${answered} of 100 answered)`);
    again.close();
    raw.close();
  });

  test('plain pusher-js on a history channel sees ordinary events (the position field is ignored)', async () => {
    const channel = `hist-plain-${Date.now().toString(36)}`;
    const p = pusherClient(s.port);
    const got: unknown[] = [];
    const ch = p.subscribe(channel);
    ch.bind('n', (d: unknown) => got.push(d));
    await until(() => ch.subscribed, 'subscribed');
    await serverSdk(s.port).trigger(channel, 'n', { n: 1 });
    await until(() => got.length === 1, 'event');
    assert.deepEqual(got, [{ n: 1 }]);
    p.disconnect();
  });
});
