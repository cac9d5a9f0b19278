/**
 * The real CLI as a child process: the config example of docs/configuration.md end to end,
 * configuration from the environment alone, invalid configuration, JSON log lines, and SIGTERM
 * (clients told 4200, pending webhooks flushed, exit 0 within the grace period).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher';
import { connected, pusherClient, PusherJS, serverSdk, until, type PusherClient } from './helpers/clients.js';
import { freePort } from './helpers/server.js';
import { availableTransports } from './helpers/api-http.js';
import { configFile, ensureDead, healthy, jsonLines, runCli, type CliProcess } from './helpers/api-process.js';
import { closeCodes, subscribeAndCollect } from './helpers/api-clients.js';
import { rawWs } from './helpers/api-rawws.js';
import { webhookReceiver, type WebhookReceiver } from './helpers/api-webhooks.js';

let rx: WebhookReceiver;
const procs: CliProcess[] = [];
const clients: PusherClient[] = [];
before(async () => {
  rx = await webhookReceiver(serverSdk(0));
});
after(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) await ensureDead(p);
  await rx.close();
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const p = runCli(args, env);
  procs.push(p);
  return p;
}

test('the documented config example: webhooks, client events, presence; SIGTERM → 4200, webhooks flushed, exit 0', async () => {
  const port = await freePort();
  // Exactly "A minimal file" of docs/configuration.md, with a free port and this test's receiver.
  const file = configFile({
    port,
    host: '127.0.0.1',
    apps: [
      {
        id: 'app-id',
        key: 'app-key',
        secret: 'app-secret',
        clientEvents: true,
        userAuthentication: true,
        webhooks: [
          {
            url: rx.url('/webhook'),
            events: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event'],
          },
        ],
      },
    ],
  });
  const proc = start(['start', '--config', file]);
  await healthy(proc, port);

  const alice = pusherClient(port, { presence: () => ({ user_id: 'alice', user_info: { name: 'Alice' } }) });
  const bob = pusherClient(port, { presence: () => ({ user_id: 'bob' }) });
  clients.push(alice, bob);
  const [aliceId] = await Promise.all([connected(alice), connected(bob)]);
  await subscribeAndCollect(alice, 'presence-issue');
  const atBob = await subscribeAndCollect(bob, 'presence-issue');
  alice.channel('presence-issue').trigger('client-wave', { hi: 1 });
  await until(() => atBob.some((e) => e.event === 'client-wave'), 'client event reached bob');
  const raw = await rawWs(port);
  raw.sendText(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'raw-public' } }));
  await until(() => raw.texts.some((t) => t.includes('subscription_succeeded')), 'raw socket subscribed');

  const events = (): Array<Record<string, unknown>> =>
    rx.events('/webhook').filter((e) => e.channel === 'presence-issue' || e.channel === 'raw-public');
  await until(() => events().some((e) => e.name === 'client_event'), 'client_event webhook');
  await until(() => events().filter((e) => e.name === 'member_added').length === 2, 'member_added × 2');
  await until(() => events().filter((e) => e.name === 'channel_occupied').length === 2, 'channel_occupied × 2');
  assert.deepEqual(
    events().filter((e) => e.name !== 'client_event' && e.name !== 'member_added'),
    [
      { name: 'channel_occupied', channel: 'presence-issue' },
      { name: 'channel_occupied', channel: 'raw-public' },
    ],
  );
  assert.deepEqual(
    events().find((e) => e.name === 'client_event'),
    {
      name: 'client_event',
      channel: 'presence-issue',
      event: 'client-wave',
      data: '{"hi":1}',
      socket_id: aliceId,
      user_id: 'alice',
    },
  );

  const aliceCodes = closeCodes(alice);
  const bobCodes = closeCodes(bob);
  const sentAt = Date.now();
  proc.child.kill('SIGTERM');
  const code = await proc.exited;
  const tookMs = Date.now() - sentAt;
  assert.equal(code, 0, proc.stderr());
  assert.ok(tookMs < 10_000, `exited after ${tookMs} ms, beyond the default grace of 10 s`);
  assert.ok(aliceCodes.includes(4200) && bobCodes.includes(4200), `pusher-js close codes: ${aliceCodes} / ${bobCodes}`);
  assert.equal(raw.closeCode, 4200);
  // Everything that happened during the drain was delivered before the process exited.
  const left = events().filter((e) => e.name === 'member_removed' || e.name === 'channel_vacated');
  assert.deepEqual(left.map((e) => `${String(e.name)} ${String(e.channel)} ${String(e.user_id ?? '')}`.trim()).sort(), [
    'channel_vacated presence-issue',
    'channel_vacated raw-public',
    'member_removed presence-issue alice',
    'member_removed presence-issue bob',
  ]);
  for (const hook of rx.on('/webhook')) assert.equal(hook.valid, true);

  const logs = jsonLines(proc.stderr());
  for (const l of logs) {
    // pino's shape: level number, epoch-ms time, pid, hostname, msg.
    assert.ok([20, 30, 40, 50].includes(l.level as number), `level ${String(l.level)}`);
    assert.equal(typeof l.time, 'number');
    assert.equal(l.pid, proc.child.pid);
    assert.equal(typeof l.hostname, 'string');
    assert.equal(typeof l.msg, 'string');
  }
  const msgs = logs.map((l) => l.msg);
  assert.ok(msgs.includes('wiremesh listening'), msgs.join(' | '));
  assert.ok(msgs.includes('shutdown complete'), msgs.join(' | '));
  const listening = logs.find((l) => l.msg === 'wiremesh listening')!;
  assert.equal(listening.port, port);
  assert.equal(typeof listening.nodeId, 'string');
  assert.equal(proc.stdout(), '');
});

test('no config file: PUSHER_APP_ID/KEY/SECRET from the environment define the app', async () => {
  const port = await freePort();
  const creds = { appId: 'env-id', key: 'env-key', secret: 'env-secret' };
  const proc = start(['start'], {
    PUSHER_APP_ID: creds.appId,
    PUSHER_APP_KEY: creds.key,
    PUSHER_APP_SECRET: creds.secret,
    WIREMESH_PORT: String(port),
    WIREMESH_HOST: '127.0.0.1',
  });
  await healthy(proc, port);
  const options = {
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    cluster: 'mt1',
  };
  const client = new PusherJS(creds.key, options as never);
  const stranger = new PusherJS('app-key', options as never);
  clients.push(client, stranger);
  const strangerCodes = closeCodes(stranger);
  await connected(client);
  const got = await subscribeAndCollect(client, 'env-news');
  const sdk = new Pusher({ ...creds, host: '127.0.0.1', port: String(port), useTLS: false });
  await sdk.trigger('env-news', 'hello', { from: 'env' });
  await until(() => got.length === 1, 'event from the env-configured app');
  assert.deepEqual(got[0], { event: 'hello', data: { from: 'env' } });
  // The default app does not exist here.
  await until(() => strangerCodes.includes(4001), 'default key refused with 4001');
  stranger.disconnect();
  const res = await fetch(`http://127.0.0.1:${port}/apps/app-id/channels`);
  assert.equal(res.status, 404);
  await res.arrayBuffer();
  assert.ok(!/default app/.test(proc.stderr()), 'no default-credentials warning with real credentials');

  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0, proc.stderr());
});

test('an invalid config exits non-zero with one clear line on stderr, before listening', async () => {
  const cases: Array<{ config: unknown; name?: string; env?: NodeJS.ProcessEnv; message: RegExp }> = [
    { config: { apps: [{ id: 'a', key: 'k' }] }, message: /^Invalid config: apps\[0\]\.secret/ },
    { config: { prot: 6001 }, message: /prot is not a known setting.*port/ },
    { config: { port: 'six thousand' }, message: /^Invalid config: port/ },
    { config: '{ "port": 6001, ', message: /^Invalid config file .*config\.json/ },
    { config: {}, env: { WIREMESH_PORT: 'abc' }, message: /WIREMESH_PORT/ },
    {
      config: {
        apps: [
          { id: 'a', key: 'k', secret: 's', webhooks: [{ url: 'http://127.0.0.1:1/x', events: ['channel_ocupied'] }] },
        ],
      },
      message: /apps\[0\]\.webhooks\[0\]\.events\[0\]/,
    },
  ];
  await Promise.all(
    cases.map(async (c) => {
      const proc = start(['start', '--config', configFile(c.config)], c.env);
      const code = await proc.exited;
      assert.notEqual(code, 0);
      const lines = proc.stderr().trim().split('\n');
      assert.equal(lines.length, 1, `one line expected, got:\n${proc.stderr()}`);
      assert.match(lines[0]!, c.message);
      assert.doesNotMatch(proc.stderr(), /\n\s+at /, 'no stack trace');
    }),
  );
  const missing = start(['start', '--config', '/nonexistent/wiremesh.json']);
  assert.notEqual(await missing.exited, 0);
  assert.match(missing.stderr(), /Cannot read config file \/nonexistent\/wiremesh\.json: no such file/);
});

for (const transport of await availableTransports()) {
  test(`SIGTERM with a client that never answers the close (${transport}): exit 0 within shutdownGraceMs`, async () => {
    const port = await freePort();
    const graceMs = 1_500;
    const proc = start(['start', '--config', configFile({ port, host: '127.0.0.1', shutdownGraceMs: graceMs })], {
      WIREMESH_TRANSPORT: transport,
    });
    await healthy(proc, port);
    const stuck = await rawWs(port, { answerClose: false });
    const polite = await rawWs(port);
    const sentAt = Date.now();
    proc.child.kill('SIGTERM');
    const code = await proc.exited;
    const tookMs = Date.now() - sentAt;
    assert.equal(code, 0, proc.stderr());
    assert.equal(stuck.closeCode, 4200);
    assert.equal(polite.closeCode, 4200);
    assert.ok(tookMs < graceMs + 1_000, `exited after ${tookMs} ms (grace ${graceMs} ms)`);
    await until(() => stuck.ended, 'the stuck socket was cut off');
    const listening = jsonLines(proc.stderr()).find((l) => l.msg === 'wiremesh listening');
    assert.equal(listening?.transport, transport);
  });
}

test('the default-credentials warning says where they come from', async () => {
  const port = await freePort();
  // The file's app uses the well-known key: the warning names the file, not "set a config file".
  const file = configFile({ port, host: '127.0.0.1', apps: [{ id: 'mine', key: 'app-key', secret: 's3cret' }] });
  const fromFile = start(['start', '--config', file]);
  await healthy(fromFile, port);
  fromFile.child.kill('SIGTERM');
  await fromFile.exited;
  const warning = jsonLines(fromFile.stderr()).find((l) => /default key or secret/.test(String(l.msg)));
  assert.ok(warning, fromFile.stderr());
  assert.match(
    String(warning.msg),
    new RegExp(`^app mine uses the default key or secret .* from the config file ${file}`),
  );
  assert.ok(!/serving the default app/.test(fromFile.stderr()));

  // Nothing configured at all: the default app, and how to replace it.
  const bare = start(['start'], { WIREMESH_PORT: String(port), WIREMESH_HOST: '127.0.0.1' });
  await healthy(bare, port);
  bare.child.kill('SIGTERM');
  await bare.exited;
  assert.match(bare.stderr(), /serving the default app \(app-id \/ app-key \/ app-secret\)/);
});
