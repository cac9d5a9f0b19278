/**
 * `trustedProxies` through a real nginx (Debian's) in front of wiremesh, as in docs/security.md
 * and the Fly-inside-Laravel recipe: clients reach nginx from distinct loopback addresses
 * (127.0.0.2, 127.0.0.3), nginx reaches wiremesh from 127.0.0.1 and says who the client is in
 * X-Forwarded-For. With the proxy trusted, one client at its per-address cap does not lock the
 * other out, and the refusal is logged with the client's address; without it, the node behaves as
 * before: every client is the proxy.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APP, freePort, startTestServer, type TestServer } from './helpers/server.js';
import { availableTransports, eventually } from './helpers/api-http.js';
import { RawClient, errorData } from './helpers/ws-raw.js';

const NGINX = '/usr/sbin/nginx';
const hasNginx = spawnSync(NGINX, ['-v']).status === 0;

/** nginx on a free port in front of `upstream`, from a generated config and a temp prefix. */
async function startNginx(upstream: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'wiremesh-nginx-'));
  mkdirSync(join(prefix, 'logs'));
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `error_log ${prefix}/logs/error.log warn;
pid ${prefix}/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', prefix, '-c', conf, '-g', 'daemon off; master_process off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await eventually(
    () =>
      fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.status,
        () => 0,
      ),
    (status) => status === 200,
    'nginx to proxy /health',
    5_000,
  );
  return { port, child };
}

const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function client(port: number, localAddress: string): RawClient {
  const c = new RawClient(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7&client=js&version=8.6.0`, {
    localAddress,
  });
  clients.push(c);
  return c;
}

/** Whether the client got connection_established (true) or a 4100 refusal (false). */
async function outcome(c: RawClient): Promise<boolean> {
  const f = await c.next(
    (x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error',
    'established or refused',
  );
  if (f.event === 'pusher:connection_established') return true;
  assert.equal(errorData(f).code, 4100);
  return false;
}

const cases = (await availableTransports()).flatMap((transport) =>
  [true, false].map((trusted) => ({ transport, trusted })),
);

for (const { transport, trusted } of cases) {
  const title = `behind nginx (${transport}), ${trusted ? 'with' : 'without'} trustedProxies`;
  describe(title, { skip: !hasNginx && 'no nginx' }, () => {
    let srv: TestServer;
    let nginx: { port: number; child: ChildProcess };
    before(async () => {
      srv = await startTestServer({
        transport,
        limits: { maxConnectionsPerIp: 5 },
        ...(trusted ? { trustedProxies: ['127.0.0.1/32'] } : {}),
      });
      nginx = await startNginx(srv.port);
    });
    after(async () => {
      nginx.child.kill('SIGKILL');
      await srv.close();
    });

    test('one client at its per-address cap; another client connects', async () => {
      const first = Array.from({ length: 5 }, () => client(nginx.port, '127.0.0.2'));
      for (const c of first) assert.equal(await outcome(c), true);
      assert.equal(await outcome(client(nginx.port, '127.0.0.2')), false, "the first client's 6th socket");
      const other = await outcome(client(nginx.port, '127.0.0.3'));
      const refusals = srv.logs
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.limit === 'connections_per_ip');
      if (trusted) {
        assert.equal(other, true, 'another client is not locked out');
        assert.equal(refusals[0]?.client, '127.0.0.2', 'the refusal names the client, not the proxy');
      } else {
        assert.equal(other, false, 'as before: every client has the proxy address');
        assert.equal(refusals[0]?.client, '127.0.0.1');
      }
    });

    test('a client cannot name itself when the peer is not trusted', async () => {
      // Straight to wiremesh (not through nginx) with a forged header: the peer is who counts.
      const forged = Array.from(
        { length: 6 },
        () =>
          new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`, {
            localAddress: '127.0.0.4',
            headers: { 'x-forwarded-for': `10.9.8.${Math.floor(Math.random() * 250)}`, 'fly-client-ip': '10.1.1.1' },
          }),
      );
      clients.push(...forged);
      const results = await Promise.all(forged.map(outcome));
      assert.equal(results.filter((ok) => ok).length, 5);
    });
  });
}
