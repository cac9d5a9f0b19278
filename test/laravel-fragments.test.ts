/**
 * docs/fragments.md's Laravel side, run as written on a real Laravel (the rig of
 * test/helpers/laravel.ts): the fragment controller and its route (outside the `web` group) in
 * test/fixtures/laravel-app, called with the exact body and signature wiremesh sends. A good
 * signature renders the members; a bad one is a plain 401 (no stack trace, no session, no
 * cookie); the refresh call of "Triggers" reaches wiremesh's API signed; all also under
 * `php artisan config:cache`, where env() reads nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fragmentKey, renderBody } from '../src/fragments/render.js';
import { signWebhook } from '../src/webhooks/sign.js';
import { laravelRig, startLaravel, type LaravelApp } from './helpers/laravel.js';
import { APP, freePort, startTestServer, testApp, type TestServer } from './helpers/server.js';

const rig = laravelRig();

describe('the fragment route of docs/fragments.md on a real Laravel', { skip: rig.skip, timeout: 300_000 }, () => {
  let laravel: LaravelApp;
  let wiremesh: TestServer;

  before(async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const origin = `http://127.0.0.1:${port}`;
    laravel = await startLaravel(rig.root!, {
      port,
      env: {
        PUSHER_APP_ID: APP.id,
        PUSHER_APP_KEY: APP.key,
        PUSHER_APP_SECRET: APP.secret,
        PUSHER_HOST: '127.0.0.1',
        PUSHER_PORT: String(wsPort),
      },
    });
    wiremesh = await startTestServer({
      port: wsPort,
      apps: [
        testApp({
          livewire: { backends: [origin], publicUrl: origin },
          fragments: { path: '/wiremesh/fragments', names: { 'online-users': ['presence-*'] } },
        }),
      ],
    });
  });
  after(async () => {
    await wiremesh?.close();
    await laravel?.close();
  });

  const body = (): string =>
    renderBody(
      {
        fragment: 'online-users',
        channel: 'presence-lobby',
        members: [
          { user_id: '2', user_info: { name: 'Grace' } },
          { user_id: '1', user_info: { name: 'Ada' } },
        ],
        subscriptionCount: 2,
      },
      Date.now(),
    );

  async function render(raw: string, signature: string): Promise<Response> {
    return fetch(`${laravel.url}/wiremesh/fragments`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/html',
        'x-pusher-key': APP.key,
        'x-pusher-signature': signature,
        'x-wiremesh-node': 'test-node',
      },
      body: raw,
    });
  }

  async function check(when: string): Promise<void> {
    const good = body();
    const ok = await render(good, signWebhook(fragmentKey(APP.secret), good));
    const html = await ok.text();
    assert.equal(ok.status, 200, `${when}: ${html.slice(0, 500)}`);
    assert.match(html, /<h2>2 online<\/h2>/);
    assert.ok(html.indexOf('Ada') < html.indexOf('Grace'), 'sorted by name');
    assert.equal(ok.headers.get('set-cookie'), null, `${when}: no session, no cookie per render`);

    const asWebhook = await render(good, signWebhook(APP.secret, good));
    assert.equal(asWebhook.status, 401, `${when}: a webhook's signature (the plain secret) is no render's`);
    const bad = await render(good, signWebhook('not-the-secret', good));
    const text = await bad.text();
    assert.equal(bad.status, 401, `${when}: ${text.slice(0, 500)}`);
    assert.equal(text, 'bad signature');
    assert.equal(bad.headers.get('set-cookie'), null);
    const refresh = await fetch(`${laravel.url}/_test/fragments/refresh`, { method: 'POST' });
    assert.equal(refresh.status, 200, `${when}: the refresh snippet: ${(await refresh.text()).slice(0, 500)}`);
    const stale = renderBody(
      { fragment: 'online-users', channel: 'x', members: [], subscriptionCount: 0 },
      Date.now() - 120_000,
    );
    assert.equal(
      (await render(stale, signWebhook(fragmentKey(APP.secret), stale))).status,
      401,
      `${when}: a replayed old request`,
    );
  }

  test('a good signature renders, a bad one is a 401 without a stack trace or a session', async () => {
    await check('config from .env');
  });

  test('the same under php artisan config:cache', async () => {
    await laravel.artisan('config:cache');
    try {
      await check('config:cache');
    } finally {
      await laravel.artisan('config:clear');
    }
  });
});
