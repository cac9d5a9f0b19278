/**
 * A Livewire page that legitimately sends more than the frame limit allows (fast `wire:model.live`
 * typing, a short `wire:poll`): its tunnel requests count against their own per-connection budget
 * (`livewire.maxRequestsPerSecond`), not the Pusher frame budget, so its socket is not closed and
 * no update in flight is lost; beyond that budget a request is answered with a `busy` fallback
 * (the client sends it over HTTP) and counts as a frame, so a flood is still closed with 4301.
 * A real wiremesh, a real HTTP backend, raw `ws` sockets.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from './helpers/clients.js';
import { TestBackend } from './helpers/livewire-backend.js';
import { TunnelSocket, type FallbackData, type ResponseData } from './helpers/livewire-socket.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';

const PAGE = 'https://app.example.test';
const servers: TestServer[] = [];
const sockets: TunnelSocket[] = [];
let backend: TestBackend | undefined;

after(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const s of servers.splice(0)) await s.close();
  await backend?.close();
});

async function server(livewire: Record<string, unknown>, limits: Record<string, unknown> = {}): Promise<TestServer> {
  backend ??= await TestBackend.start();
  const s = await startTestServer({
    limits,
    apps: [testApp({ livewire: { backends: [backend.origin], publicUrl: PAGE, maxInFlight: 64, ...livewire } })],
  });
  servers.push(s);
  return s;
}

async function socket(srv: TestServer): Promise<TunnelSocket> {
  const s = await TunnelSocket.open(srv.port, { origin: PAGE });
  sockets.push(s);
  return s;
}

/** Whether the socket was closed (and with which code) by now. */
async function closedCode(s: TunnelSocket): Promise<number | null> {
  return Promise.race([s.closed, sleep(50).then(() => null)]);
}

describe('tunnel requests above the frame rate', () => {
  test('a burst of tunnelled updates above 20 frames/s: every one answered by the backend, the socket stays open', async () => {
    const srv = await server({}, { maxFramesPerSecond: 20, maxFrameBurst: 20 });
    const s = await socket(srv);
    // 100 updates at 50 a second: 2.5 times the frame limit, within the tunnel's default budget.
    for (let i = 0; i < 100; i++) {
      s.request({ id: `u${i}`, path: '/livewire/update' });
      await sleep(20);
    }
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => s.answer(`u${i}`)));
    const notAnswered = answers.filter((f) => f.event !== 'wiremesh:response');
    assert.deepEqual(notAnswered, [], 'every update reached the backend');
    assert.ok(answers.every((f) => (f.data as ResponseData).status === 200));
    assert.equal(await closedCode(s), null, 'the socket is still open');
    await s.roundTrip();
  });

  test('beyond its own budget a request falls back to HTTP; the socket stays open; a flood is still closed with 4301', async () => {
    const srv = await server({ maxRequestsPerSecond: 10 });
    const s = await socket(srv);
    for (let i = 0; i < 60; i++) s.request({ id: `b${i}`, path: '/livewire/update' });
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => s.answer(`b${i}`)));
    const responses = answers.filter((f) => f.event === 'wiremesh:response');
    const fallbacks = answers.filter((f) => f.event === 'wiremesh:fallback').map((f) => f.data as FallbackData);
    // The burst (twice the rate) went through; the rest came back to be sent over HTTP.
    assert.ok(responses.length >= 20 && responses.length <= 22, `${responses.length} tunnelled`);
    assert.equal(responses.length + fallbacks.length, 60);
    for (const f of fallbacks) {
      assert.equal(f.code, 'busy');
      assert.match(f.reason, /more than 10 requests per second \(bursts of 20\)/);
    }
    assert.equal(await closedCode(s), null, 'the socket is still open');
    await s.roundTrip();
    // Requests over the budget count as frames: a flood exhausts the frame budget (burst 250) and is closed.
    for (let i = 0; i < 1_000; i++) s.request({ id: `f${i}`, path: '/livewire/update' });
    assert.equal(await s.closed, 4301);
  });
});
