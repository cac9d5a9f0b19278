/**
 * `wiremesh doctor` (the real CLI) against real servers: a wiremesh started by its CLI on Redis, a
 * real Redis, a Laravel stand-in HTTP backend (/up, /broadcasting/auth). First everything is fine,
 * then each thing that breaks in production is broken once and named, with its fix, on one line.
 * Then servers that are not this wiremesh: a real Soketi 1.6.1 with the same credentials, stand-ins
 * whose clock is off or slow to answer, and one whose answers carry terminal control characters.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startBroker, type Broker } from './helpers/brokers.js';
import { configFile, ensureDead, healthy, runCli, type CliProcess } from './helpers/api-process.js';
import { REPO_ROOT } from './helpers/e2e-app.js';
import { freePort } from './helpers/server.js';
import { soketiMissing, startSoketi } from './helpers/soketi.js';

const APP = { id: 'doc-app', key: 'doc-key', secret: 'doc-secret' };
/** Cookies written by Laravel's own EncryptCookies, with the key that reads them. */
const LARAVEL = JSON.parse(
  readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'laravel-cookies', 'cookies.json'), 'utf8'),
) as { keys: { current: string; previous: string }; first: { 'XSRF-TOKEN': string } };

let redis: Broker;
let server: CliProcess;
let port = 0;
let laravel: http.Server;
let laravelUrl = '';

before(async () => {
  redis = await startBroker('redis');
  // Laravel's answers without a session: /up 200, /broadcasting/auth 403, anything else 404; `/`
  // sets an XSRF-TOKEN cookie that Laravel encrypted (test/fixtures/laravel-cookies).
  laravel = http.createServer((req, res) => {
    const status = req.url === '/up' ? 200 : req.url === '/broadcasting/auth' && req.method === 'POST' ? 403 : 404;
    req.resume();
    req.on('end', () =>
      res.writeHead(status, req.url === '/' ? { 'set-cookie': LARAVEL.first['XSRF-TOKEN'] } : {}).end(),
    );
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
    apps: [
      {
        ...APP,
        livewire: { backends: [laravelUrl], publicUrl: laravelUrl, laravelKey: LARAVEL.keys.current },
        ...app,
      },
    ],
    ...overrides,
  });
}

async function runDoctor(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | string | null; lines: string[] }> {
  const proc = runCli(['doctor', ...args], env);
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
    has(
      lines,
      /^ok +api \(server\): signed GET http:\/\/127\.0\.0\.1:\d+\/apps\/doc-app\/channels → 200, wiremesh \d+\.\d+\.\d+$/,
    );
    // The same machine's clock: within the Date header's resolution, never -1 or -2 s.
    has(
      lines,
      /^ok +clock \(server\): skew 0 s \(within the Date header's resolution, 2 s, and the \d+ ms round trip\)$/,
    );
    has(lines, /^ok +livewire: backend http:\/\/127\.0\.0\.1:\d+\/up → 200/);
    has(lines, /^ok +livewire session: livewire\.laravelKey reads the cookies of GET http:\/\/.*\/ \(XSRF-TOKEN\)$/);
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
          livewire: {
            backends: [`http://127.0.0.1:${await freePort()}`, laravelUrl],
            publicUrl: 'https://app.example.com',
            laravelKey: LARAVEL.keys.previous,
          },
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
      /^PROBLEM api \(server\): signed GET http:\/\/127\.0\.0\.1:\d+\/apps\/doc-app\/channels → 401 .* — fix: the server has another key\/secret for app doc-app/,
    );
    has(
      lines,
      /^PROBLEM livewire: backend http:\/\/127\.0\.0\.1:\d+ unreachable: ECONNREFUSED — fix: start the Laravel app/,
    );
    has(
      lines,
      /^PROBLEM livewire session: livewire\.laravelKey reads none of the cookies of GET http:\/\/.*\/ \(XSRF-TOKEN\) — fix: set it to the app's APP_KEY/,
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

  it("says how a Laravel .env's PUSHER_APP_* combine with the config file's app, and keeps its tunnel", async () => {
    const env = { PUSHER_APP_ID: APP.id, PUSHER_APP_KEY: APP.key, PUSHER_APP_SECRET: APP.secret };
    const { code, lines } = await runDoctor(['--config', config()], env);
    assert.equal(code, 0, lines.join('\n'));
    has(
      lines,
      /^ok +apps: apps\[0\] \(id "doc-app"\) of .* takes id, key, secret from the environment \(PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET\); its other settings are the file's$/,
    );
    has(lines, /^ok +livewire: backend http:\/\/127\.0\.0\.1:\d+\/up → 200/);
    const other = await runDoctor(['--config', config({ apps: [{ ...APP }, { id: 'b', key: 'b', secret: 'b' }] })], {
      ...env,
      PUSHER_APP_ID: 'laravel',
      PUSHER_APP_KEY: 'laravel-key',
    });
    assert.equal(other.code, 1);
    has(
      other.lines,
      /^PROBLEM config: Invalid environment: PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET define an app .* none of the 2 apps of /,
    );
  });

  it('reports an invalid config as one problem', async () => {
    const { code, lines } = await runDoctor(['--config', configFile({ port: 'nope' })]);
    assert.equal(code, 1);
    has(lines, /^PROBLEM config: .*port.* — fix: correct the setting named above/);
  });

  it('says how to spare the session syncs when livewire has no laravelKey', async () => {
    const { code, lines } = await runDoctor([
      '--config',
      config({}, { livewire: { backends: [laravelUrl], publicUrl: laravelUrl } }),
    ]);
    assert.equal(code, 0, lines.join('\n'));
    has(
      lines,
      /^ok +livewire session: no livewire\.laravelKey: .* each tunnelled update costs the page one POST \/wiremesh\/session; set livewire\.laravelKey to the app's APP_KEY/,
    );
  });

  it('tells a real Soketi with the same credentials from wiremesh', async (t) => {
    const missing = soketiMissing();
    if (missing) return t.skip(missing);
    const soketi = await startSoketi([
      `SOKETI_DEFAULT_APP_ID=${APP.id}`,
      `SOKETI_DEFAULT_APP_KEY=${APP.key}`,
      `SOKETI_DEFAULT_APP_SECRET=${APP.secret}`,
    ]);
    if ('skip' in soketi) return t.skip(soketi.skip);
    t.after(() => soketi.stop());
    const soketiPort = soketi.port;
    const { code, lines } = await runDoctor(['--config', config(), '--server', `http://127.0.0.1:${soketiPort}`]);
    assert.equal(code, 1, lines.join('\n'));
    has(
      lines,
      /^PROBLEM api \(server\): signed GET http:\/\/127\.0\.0\.1:\d+\/apps\/doc-app\/channels → 200, but not from wiremesh \(no x-wiremesh-version header.*\) — fix: another Pusher-protocol server \(Soketi, Reverb, …\) with the same credentials answers there/,
    );
    assert.ok(!lines.some((l) => /^ok +api \(server\)/.test(l)), lines.join('\n'));
  });

  it('measures clock skew allowing for the round trip and the Date header resolution', async () => {
    // Answers after 1.5 s with the Date of when the request arrived: no skew, whatever the round trip.
    const slow = await standIn(async (_req, res) => {
      const date = new Date().toUTCString();
      await new Promise((r) => setTimeout(r, 1_500));
      res.writeHead(200, { date, 'content-type': 'application/json' }).end('{"channels":{}}');
    });
    // A clock 30 s ahead: reported as an interval around +30 s, and a problem.
    const ahead = await standIn((_req, res) => {
      res
        .writeHead(200, { date: new Date(Date.now() + 30_000).toUTCString(), 'content-type': 'application/json' })
        .end('{"channels":{}}');
    });
    try {
      const a = await runDoctor(['--config', config(), '--server', slow.url]);
      has(
        a.lines,
        /^ok +clock \(server\): skew 0 s \(within the Date header's resolution, 2 s, and the \d+ ms round trip\)$/,
      );
      const b = await runDoctor(['--config', config(), '--server', ahead.url]);
      const line = b.lines.find((l) => l.startsWith('PROBLEM clock (server)'));
      const m = line && /skew \+(\d+\.\d) to \+(\d+\.\d) s \(the server's clock ahead of this one/.exec(line);
      assert.ok(m, b.lines.join('\n'));
      assert.ok(Number(m[1]) <= 30 && Number(m[2]) >= 30 && Number(m[2]) - Number(m[1]) < 4, line);
    } finally {
      slow.close();
      ahead.close();
    }
  });

  it('escapes control characters in what a probed server sends', async () => {
    const evil = await standIn((_req, res) => {
      res
        .writeHead(401, { 'content-type': 'text/plain' })
        .end('\x1b]0;owned\x07\x1b[2Jbad\nPROBLEM none \u202egnp.exe\u009b');
    });
    try {
      const proc = runCli(['doctor', '--config', config(), '--server', evil.url]);
      await proc.exited;
      const out = proc.stdout();
      assert.doesNotMatch(out.replace(/\n/g, ''), /[\u0000-\u001f\u007f-\u009f\u202e]/, JSON.stringify(out));
      has(
        out.trim().split('\n'),
        /^PROBLEM api \(server\): .* → 401 \\u001b\]0;owned\\u0007\\u001b\[2Jbad\\nPROBLEM none \\u202egnp\.exe\\u009b — fix: /,
      );
    } finally {
      evil.close();
    }
  });
});

/** Soketi's launcher: SOKETI_START, or peers/soketi/start.sh in the shared tree beside the checkout. */

/** A stand-in HTTP server on loopback answering every request with `handler`. */
async function standIn(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>,
): Promise<{ url: string; close: () => void }> {
  const srv = http.createServer((req, res) => {
    req.resume();
    void handler(req, res);
  });
  srv.listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    close: () => {
      srv.closeAllConnections();
      srv.close();
    },
  };
}
