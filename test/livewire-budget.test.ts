/**
 * The tunnel's response bytes in memory, bounded per client address and for the node: many
 * sockets of one client that do not read ask for large responses at once. The upstream runs in
 * its own process, so this process's Buffer memory is the node's (and the test clients', which do
 * not read): it stays near the budget, the refusals name the client, and a client at another
 * address keeps being served meanwhile.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { sleep } from './helpers/clients.js';
import { TunnelSocket } from './helpers/livewire-socket.js';
import { startTestServer, testApp, type TestServer } from './helpers/server.js';

const PAGE = 'https://app.example.test';
const MB = 1_000_000;

/** An upstream in a child process: `?big=N` answers N bytes of text, anything else 200 `{}`. */
const UPSTREAM = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  const n = Number(new URL(req.url, 'http://x').searchParams.get('big') ?? 0);
  req.resume();
  req.on('end', () => {
    const body = n > 0 ? Buffer.alloc(n, 120) : Buffer.from('{}');
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) }).end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstream(): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, ['-e', UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => void child.kill());
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return `http://127.0.0.1:${line.toString().trim()}`;
}

async function heldBytes(srv: TestServer): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
  return Number(/^wiremesh_livewire_buffered_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
}

const logged = (srv: TestServer, msg: string): Array<Record<string, unknown>> =>
  srv.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

test('many non-reading sockets of one client: the node holds about its budget, others are served', async () => {
  const origin = await upstream();
  const srv = await startTestServer({
    limits: {
      maxFrameBytes: 256 * 1024,
      maxBufferedBytes: 256 * 1024,
      maxTunnelBufferedBytesPerIp: 6 * MB,
      maxTunnelBufferedBytes: 12 * MB,
    },
    apps: [
      testApp({
        livewire: {
          publicUrl: PAGE,
          backends: [origin],
          trustedProxies: ['127.0.0.0/8'],
          maxResponseBytes: 2 * MB,
          maxBufferedResponseBytes: 8 * MB,
          timeoutMs: 10_000,
        },
      }),
    ],
  });
  cleanups.push(() => srv.close());
  const open = async (client: string): Promise<TunnelSocket> => {
    const s = await TunnelSocket.open(srv.port, { origin: PAGE, 'x-forwarded-for': client });
    cleanups.push(() => s.close());
    return s;
  };

  global.gc?.();
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  let held = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 10);
  const gauge = setInterval(() => {
    void heldBytes(srv).then((n) => (held = Math.max(held, n)));
  }, 50);
  try {
    // 20 sockets of one client, none reading, 4 responses of 1.9 MB each: 152 MB asked for.
    const hogs = await Promise.all(Array.from({ length: 20 }, () => open('203.0.113.7')));
    for (const h of hogs) {
      h.stall(8_000);
      for (let k = 0; k < 4; k++) h.request({ id: `h${k}`, path: `/livewire/update?big=${1.9 * MB}` });
    }
    await sleep(1_500);
    // Another client is served in full meanwhile.
    const other = await open('198.51.100.2');
    other.request({ id: 'o', path: `/livewire/update?big=${MB}` });
    const r = await other.response('o', 8_000);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, MB);
    await sleep(1_000);
  } finally {
    clearInterval(sampler);
    clearInterval(gauge);
  }
  const grew = (peak - before) / MB;
  assert.ok(held <= 7 * MB, `the tunnel held ${held} bytes at most (the hogs' 6 MB, the other client's 1 MB)`);
  // The address's budget (6 MB), the sockets' queues (10 × 256 KiB), the other client's 1 MB and
  // what the HTTP client reads ahead; without the budget it is tens of MB.
  assert.ok(grew < 30, `Buffer memory grew ${grew.toFixed(1)} MB`);
  const refused = logged(srv, 'livewire client address holds too many response bytes');
  assert.ok(refused.length >= 1, 'the refusal is logged');
  assert.equal(refused[0]!.client, '203.0.113.7');
  assert.equal(refused[0]!.setting, 'limits.maxTunnelBufferedBytesPerIp');
});

test('a client over its budget is sent back to HTTP before its request runs', async () => {
  const origin = await upstream();
  const srv = await startTestServer({
    limits: {
      maxFrameBytes: 256 * 1024,
      maxBufferedBytes: 256 * 1024,
      maxTunnelBufferedBytesPerIp: 3 * MB,
      maxTunnelBufferedBytes: 0,
    },
    apps: [
      testApp({
        livewire: { publicUrl: PAGE, backends: [origin], trustedProxies: ['127.0.0.0/8'], maxResponseBytes: 2 * MB },
      }),
    ],
  });
  cleanups.push(() => srv.close());
  const hog = await TunnelSocket.open(srv.port, { origin: PAGE, 'x-forwarded-for': '203.0.113.8' });
  cleanups.push(() => hog.close());
  hog.stall(5_000);
  // One after the other: the first ones fill the socket's kernel buffers, then one stays held.
  for (let k = 0; k < 5; k++) {
    hog.request({ id: `h${k}`, path: `/livewire/update?big=${1.9 * MB}` });
    await sleep(300);
  }
  // Its held bytes leave no room for another response of maxResponseBytes: `busy`, nothing ran.
  const probe = await TunnelSocket.open(srv.port, { origin: PAGE, 'x-forwarded-for': '203.0.113.8' });
  cleanups.push(() => probe.close());
  probe.request({ id: 'c', path: '/livewire/update' });
  const f = await probe.fallback('c');
  assert.equal(f.code, 'busy');
  assert.match(f.reason, /maxTunnelBufferedBytesPerIp/);
  const lines = logged(srv, 'livewire request refused');
  assert.equal(lines.at(-1)?.client, '203.0.113.8');
});
