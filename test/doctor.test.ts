/**
 * `wiremesh doctor` (the real CLI) against real servers: a wiremesh started by its CLI on Redis, a
 * real Redis, a Laravel stand-in HTTP backend (/up, /broadcasting/auth). First everything is fine,
 * then each thing that breaks in production is broken once and named, with its fix, on one line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startBroker, type Broker } from './helpers/brokers.js';
import { configFile, ensureDead, healthy, runCli, type CliProcess } from './helpers/api-process.js';
import { freePort } from './helpers/server.js';

const APP = { id: 'doc-app', key: 'doc-key', secret: 'doc-secret' };

let redis: Broker;
let server: CliProcess;
let port = 0;
let laravel: http.Server;
let laravelUrl = '';

before(async () => {
  redis = await startBroker('redis');
  // Laravel's answers without a session: /up 200, /broadcasting/auth 403, anything else 404.
  laravel = http.createServer((req, res) => {
    const status = req.url === '/up' ? 200 : req.url === '/broadcasting/auth' && req.method === 'POST' ? 403 : 404;
    req.resume();
    req.on('end', () => res.writeHead(status).end());
  });
  laravel.listen(0, '127.0.0.1');
  await new Promise((r) => laravel.once('listening', r));
  laravelUrl = `http://127.0.0.1:${(laravel.address() as AddressInfo).port}`;
  port = await freePort();
  server = runCli(['start'], {
    WIREMESH_HOST: '127.0.0.1',
    WIREMESH_PORT: String(port),
    WIREMESH_CLUSTER_DRIVER: 'redis',
    WIREMESH_REDIS_URL: redis.url,
    WIREMESH_APPS_JSON: JSON.stringify([APP]),
  });
  await healthy(server, port, 20_000);
});
after(async () => {
  await ensureDead(server);
  laravel?.close();
  await redis?.stop();
});

function config(overrides: Record<string, unknown> = {}, app: Record<string, unknown> = {}): string {
  return configFile({
    port,
    cluster: { driver: 'redis', redis: { url: redis.url } },
    apps: [{ ...APP, livewire: { backends: [laravelUrl], publicUrl: laravelUrl }, ...app }],
    ...overrides,
  });
}

async function runDoctor(args: string[]): Promise<{ code: number | string | null; lines: string[] }> {
  const proc = runCli(['doctor', ...args]);
  const code = await proc.exited;
  return { code, lines: proc.stdout().trim().split('\n') };
}

function has(lines: string[], re: RegExp): void {
  assert.ok(
    lines.some((l) => re.test(l)),
    `no line matching ${re}:\n${lines.join('\n')}`,
  );
}

describe('wiremesh doctor', { timeout: 120_000 }, () => {
  it('passes against a healthy setup, naming the transport and every check', async () => {
    const { code, lines } = await runDoctor(['--config', config(), '--url', `http://127.0.0.1:${port}`]);
    assert.equal(code, 0, lines.join('\n'));
    has(lines, /^ok +transport: (uws, native \(@[\w/.-]+@[\w.-]+\)|ws)/);
    has(lines, /^ok +redis: 127\.0\.0\.1:\d+ answered "\+PONG"/);
    has(lines, /^ok +api \(server\): signed GET \/apps\/doc-app\/channels → 200/);
    has(lines, /^ok +clock \(server\): skew -?[0-5] s/);
    has(lines, /^ok +livewire: backend http:\/\/127\.0\.0\.1:\d+\/up → 200/);
    has(lines, /^ok +broadcasting\/auth: .* → 403 \(route present\)/);
    has(lines, /^ok +websocket \(public URL\): ws:\/\/127\.0\.0\.1:\d+\/app\/doc-key → connection established/);
    assert.equal(lines.at(-1), 'no problems found');
  });

  it('names each broken part on one line with its fix, and exits 1', async () => {
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const { code, lines } = await runDoctor([
      '--config',
      config(
        { cluster: { driver: 'redis', redis: { url: deadRedis } } },
        {
          secret: 'not-the-secret',
          livewire: { backends: [`http://127.0.0.1:${await freePort()}`], publicUrl: 'https://app.example.com' },
        },
      ),
      '--url',
      laravelUrl, // a "proxy" that does not forward /app/ and /apps/ to wiremesh
      '--app-url',
      `${laravelUrl}/nowhere`,
    ]);
    assert.equal(code, 1);
    has(
      lines,
      /^PROBLEM redis: 127\.0\.0\.1:\d+ unreachable: ECONNREFUSED — fix: start Redis or correct cluster\.redis\.url/,
    );
    has(
      lines,
      /^PROBLEM api \(server\): signed GET \/apps\/doc-app\/channels → 401 .* — fix: the server has another key\/secret for app doc-app/,
    );
    has(
      lines,
      /^PROBLEM livewire: backend http:\/\/127\.0\.0\.1:\d+ unreachable: ECONNREFUSED — fix: start the Laravel app/,
    );
    has(
      lines,
      /^PROBLEM broadcasting\/auth: .*\/nowhere\/broadcasting\/auth → 404 — fix: register the route: php artisan install:broadcasting/,
    );
    has(
      lines,
      /^PROBLEM api \(public URL\): .* → 404 — fix: app doc-app is not configured on that server, or the proxy does not route \/apps\//,
    );
    has(
      lines,
      /^PROBLEM websocket \(public URL\): .*HTTP 404 instead of a WebSocket upgrade — fix: the proxy must forward \/app\//,
    );
    assert.match(lines.at(-1)!, /^\d+ problem\(s\)$/);
  });

  it('reports an invalid config as one problem', async () => {
    const { code, lines } = await runDoctor(['--config', configFile({ port: 'nope' })]);
    assert.equal(code, 1);
    has(lines, /^PROBLEM config: .*port.* — fix: correct the setting named above/);
  });
});
