/**
 * Webhook delivery under abuse and outages (src/webhooks/, docs/security.md "Webhook delivery
 * order"): bounded, and recovering promptly; through a real server, real sockets and receivers
 * checked with the `pusher` SDK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serverSdk } from './helpers/clients.js';
import { webhookReceiver } from './helpers/api-webhooks.js';
import { APP, startTestServer, type TestServer } from './helpers/server.js';
import { RawClient, appUrl, rawSubscribe } from './helpers/ws-raw.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(predicate: () => boolean, what: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - started;
}

async function metric(srv: TestServer, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${srv.httpUrl}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

async function connected(srv: TestServer): Promise<RawClient> {
  const raw = new RawClient(appUrl(srv.port));
  await raw.established();
  return raw;
}

test('an endpoint down for 22 s gets a new channel_occupied within 2 s of coming back; old batches follow', async () => {
  let down = true;
  const rx = await webhookReceiver(serverSdk(0), () => (down ? 503 : 200));
  const srv = await startTestServer({
    apps: [{ ...APP, webhooks: [{ url: rx.url('/hook'), events: ['channel_occupied'] }] }],
  });
  const raw = await connected(srv);
  try {
    // While down, a new channel every 2 s: batches pile up and their backoff grows (1, 2, 4, 8, 16 s).
    for (let i = 0; i < 11; i++) {
      await rawSubscribe(raw, `old-${i}`);
      await sleep(2_000);
    }
    const failedWhileDown = rx.hooks.length;
    // About one request a second while down, not one per batch per backoff step.
    assert.ok(failedWhileDown <= 30, `${failedWhileDown} requests to the endpoint while it was down`);
    down = false;
    await sleep(100);
    await rawSubscribe(raw, 'fresh');
    const took = await until(
      () => rx.hooks.some((h) => h.answered === 200 && h.events.some((e) => e.channel === 'fresh')),
      'channel_occupied fresh',
      2_500,
    );
    assert.ok(took <= 2_000, `fresh channel_occupied took ${took} ms`);
    const delivered = (): string[] =>
      rx.hooks.filter((h) => h.answered === 200).flatMap((h) => h.events.map((e) => e.channel));
    await until(() => delivered().filter((c) => c.startsWith('old-')).length === 11, 'the old batches', 5_000);
    const names = delivered();
    assert.equal(new Set(names).size, names.length, `each event delivered once: ${names.join(',')}`);
    // The one that happened now went first; the retried ones follow oldest first.
    assert.deepEqual(names, ['fresh', ...Array.from({ length: 11 }, (_, i) => `old-${i}`)]);
  } finally {
    raw.close();
    await srv.close();
    await rx.close();
  }
});

test('a redirect is not followed: the signed body never reaches the target, and counts as a failed delivery', async () => {
  const seen: string[] = [];
  const target = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  const targetPort = (target.address() as AddressInfo).port;
  let redirects = 0;
  const redirector = http.createServer((req, res) => {
    redirects++;
    req.resume();
    res.writeHead(307, { location: `http://127.0.0.1:${targetPort}/internal-admin?x=1` });
    res.end();
  });
  redirector.listen(0, '127.0.0.1');
  await once(redirector, 'listening');
  const hookUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/hook`;
  const srv = await startTestServer({
    apps: [{ ...APP, webhooks: [{ url: hookUrl, events: ['channel_occupied'], headers: { 'X-Api-Key': 'k-123' } }] }],
  });
  const raw = await connected(srv);
  try {
    await rawSubscribe(raw, 'redirected');
    await until(() => redirects >= 1, 'the webhook request', 3_000);
    await sleep(300);
    assert.deepEqual(seen, [], 'the redirect target was reached');
    assert.ok((await metric(srv, /wiremesh_webhooks_total\{app="app-id",outcome="failed"\} (\d+)/)) >= 1);
    assert.ok(
      srv.logs.some((l) => l.includes('"redirectNotFollowed":true')),
      'the failure names the redirect',
    );
  } finally {
    raw.close();
    await srv.close();
    target.close();
    redirector.close();
  }
});

test('subscribe/unsubscribe floods are coalesced and a slow endpoint’s queue stays bounded; drops counted, logged once', async () => {
  // An endpoint that never answers: everything waits behind the first request.
  const rx = await webhookReceiver(serverSdk(0), () => 'hang');
  const srv = await startTestServer({
    // The frame-rate limit would cut the attackers first (tested in limits.test): here the webhook bounds are under test.
    limits: { maxFramesPerSecond: 0 },
    webhooks: { batchMs: 20, timeoutMs: 60_000, maxBatchEvents: 20, maxQueuedBatches: 5, maxQueuedBytes: 64 * 1024 },
    apps: [{ ...APP, webhooks: [{ url: rx.url('/slow'), events: ['channel_occupied', 'channel_vacated'] }] }],
  });
  const attackers = await Promise.all([0, 1, 2, 3].map(() => connected(srv)));
  const sdk = serverSdk(srv.port);
  const victim = await connected(srv);
  try {
    await rawSubscribe(victim, 'victim-room');
    // 1. Pairs within one window: nothing is queued for them at all.
    for (const a of attackers) {
      for (let i = 0; i < 2_000; i++) {
        a.send({ event: 'pusher:subscribe', data: { channel: `flip-${i % 50}` } });
        a.send({ event: 'pusher:unsubscribe', data: { channel: `flip-${i % 50}` } });
      }
    }
    for (const a of attackers) await a.roundTrip();
    const coalesced = await metric(srv, /wiremesh_webhook_events_coalesced_total\{app="app-id"\} (\d+)/);
    assert.ok(coalesced >= 7_000, `coalesced ${coalesced} of 8 000 pairs`);
    // 2. Distinct channels that stay occupied: batches of at most 20, at most 5 queued.
    for (const [n, a] of attackers.entries()) {
      for (let i = 0; i < 80; i++) a.send({ event: 'pusher:subscribe', data: { channel: `stay-${n}-${i}` } });
      await a.roundTrip();
    }
    await sleep(200);
    const dropped = await metric(
      srv,
      /wiremesh_webhook_events_dropped_total\{app="app-id",reason="queue_full"\} (\d+)/,
    );
    // 320 occupied (+ the victim's and a few left from the flood): ≤ 20 in flight + 5 × 20 queued.
    assert.ok(dropped >= 320 - 6 * 20, `only ${dropped} events dropped`);
    const full = srv.logs.filter((l) => l.includes('webhook queue full'));
    assert.equal(full.length, 1, 'logged once per episode');
    // The victim is still served on its own channel.
    await sdk.trigger('victim-room', 'still-here', { ok: true });
    await victim.next((f) => f.event === 'still-here', 'the victim’s event');
  } finally {
    for (const a of [...attackers, victim]) a.close();
    await srv.close();
    await rx.close();
  }
});
