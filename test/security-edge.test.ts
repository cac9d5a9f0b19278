/**
 * The client port's edge: every accepted TCP socket counts against the node's and its address's
 * caps before any HTTP is parsed, a socket with no request is cut after `headersTimeoutMs`, and
 * fixed paths take no body. The process runs under a low open-file limit (`ulimit -n`), so a cap
 * that does not hold shows as EMFILE: /health and new WebSockets from another address fail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { APP, freePort, startTestServer, testApp, type TestServer } from './helpers/server.js';
import { availableTransports, eventually } from './helpers/api-http.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Limited {
  port: number;
  child: ChildProcess;
  output: () => string;
}

/** `wiremesh start` under `ulimit -n openFiles` (soft and hard), waiting for /health. */
async function startLimited(openFiles: number, raw: Record<string, unknown>): Promise<Limited> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wiremesh-edge-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', apps: [testApp()], workers: 1, ...raw, port }));
  const child = spawn(
    'sh',
    [
      '-c',
      `ulimit -n ${openFiles} && exec "$0" "$@"`,
      process.execPath,
      join(ROOT, 'bin', 'wiremesh.js'),
      'start',
      '--config',
      file,
    ],
    { env: { PATH: process.env.PATH, WIREMESH_WARMUP: 'off' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(
    () => health(port, '127.0.0.1').catch(() => 0),
    (status) => status === 200,
    `wiremesh on ${port} to start`,
    10_000,
  );
  return { port, child, output: () => out };
}

/** GET /health from `localAddress`: the status, or a rejection (refused, reset, timeout). */
async function health(port: number, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', localAddress, agent: false, timeout: 2_000 });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A WebSocket from `localAddress`: resolves with the first frame's event (or rejects). */
async function firstEvent(port: number, localAddress: string): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7`, {
    localAddress,
    handshakeTimeout: 2_000,
  });
  try {
    const [data] = (await Promise.race([
      once(ws, 'message'),
      once(ws, 'error').then(([err]) => Promise.reject(err as Error)),
    ])) as [Buffer];
    return (JSON.parse(data.toString()) as { event: string }).event;
  } finally {
    ws.terminate();
  }
}

/** Opens `n` TCP connections from `localAddress` that never send a byte; counts those still open. */
async function silentSockets(port: number, localAddress: string, n: number) {
  const sockets: net.Socket[] = [];
  let open = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress });
      s.on('error', () => {});
      sockets.push(s);
      const connected = await Promise.race([once(s, 'connect').then(() => true), once(s, 'close').then(() => false)]);
      if (!connected) return;
      open++;
      s.once('close', () => open--);
    }),
  );
  return { sockets, open: () => open };
}

function descriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe('every accepted socket counts at accept (ws transport, ulimit -n 400)', () => {
  let srv: Limited;
  before(async () => {
    // maxConnections "auto": 400 - 256 = 144 WebSockets; sockets 144 + 64; one address at most 104.
    srv = await startLimited(400, { transport: 'ws', limits: { headersTimeoutMs: 2_000 }, logLevel: 'info' });
  });
  after(() => {
    srv.child.kill('SIGKILL');
  });

  test('500 silent sockets from one address leave /health and new WebSockets to another, and are cut at the deadline', async () => {
    const pid = srv.child.pid!;
    const fdsBefore = descriptors(pid);
    const attack = await silentSockets(srv.port, '127.0.0.1', 500);
    try {
      const fdsDuring = descriptors(pid);
      assert.equal(await health(srv.port, '127.0.0.2'), 200, '/health from another address');
      assert.equal(await firstEvent(srv.port, '127.0.0.2'), 'pusher:connection_established');
      assert.ok(attack.open() <= 104, `${attack.open()} silent sockets still open (at most 104 per address)`);
      // Counted at accept, refused at once: the process holds about the cap, not 500.
      assert.ok(fdsDuring - fdsBefore <= 110, `descriptors ${fdsBefore} → ${fdsDuring}`);
      const lines = srv
        .output()
        .split('\n')
        .filter((l) => l.includes('refused a TCP connection: too many from one address'));
      assert.equal(lines.length, 1, 'logged once per episode');
      assert.match(lines[0]!, /"client":"127\.0\.0\.1"/);
      // No request head within headersTimeoutMs (2 s): every one of them is cut.
      await eventually(
        async () => attack.open(),
        (n) => n === 0,
        'the silent sockets to be cut',
        6_000,
      );
      await eventually(
        async () => descriptors(pid),
        (n) => n <= fdsBefore + 2,
        'descriptors to be given back',
        3_000,
      );
    } finally {
      for (const s of attack.sockets) s.destroy();
    }
  });

  test('a half-sent request head is cut at the deadline too, and a malformed one is destroyed at once', async () => {
    const trickle = net.connect(srv.port, '127.0.0.1');
    trickle.on('error', () => {});
    await once(trickle, 'connect');
    trickle.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const started = Date.now();
    const timer = setInterval(() => trickle.write('X-Slow: 1\r\n'), 300);
    await once(trickle, 'close');
    clearInterval(timer);
    assert.ok(Date.now() - started < 4_000, `cut after ${Date.now() - started} ms`);

    // Bad requests from clients that never read their 400 nor close: destroyed, not half-closed
    // (a half-closed socket keeps its descriptor until the client closes its side).
    const pid = srv.child.pid!;
    const before = descriptors(pid);
    const bad = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const s = net.connect({ port: srv.port, host: '127.0.0.1', localAddress: '127.0.0.3' });
        s.on('error', () => {});
        await once(s, 'connect');
        s.write('NOT HTTP AT ALL\r\n\r\n');
        return s;
      }),
    );
    try {
      await eventually(
        async () => descriptors(pid),
        (n) => n <= before + 2,
        'bad requests to give their descriptors back',
        3_000,
      );
    } finally {
      for (const s of bad) s.destroy();
    }
  });
});

for (const transport of await availableTransports()) {
  describe(`fixed paths take no body (${transport})`, () => {
    let srv: TestServer;
    before(async () => {
      srv = await startTestServer({ transport });
    });
    after(() => srv.close());

    /** Sends a request head announcing `length` bytes and none of them; resolves with the answer. */
    async function announce(path: string, length: string): Promise<string> {
      const s = net.connect(srv.port, '127.0.0.1');
      s.on('error', () => {});
      await once(s, 'connect');
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${length}\r\n\r\n`);
      await Promise.race([once(s, 'close'), new Promise((r) => setTimeout(r, 1_500))]);
      s.destroy();
      return text;
    }

    for (const path of ['/', '/health', '/ready', '/metrics']) {
      test(`POST ${path} with a body is answered 413 before one byte is read`, async () => {
        assert.match(await announce(path, 'Content-Length: 262144'), /^HTTP\/1\.1 413/);
        assert.match(await announce(path, 'Transfer-Encoding: chunked'), /^HTTP\/1\.1 413/);
      });
    }

    test('/wiremesh/* takes a session token, not 256 KiB', async () => {
      assert.match(await announce('/wiremesh/session', 'Content-Length: 100000'), /^HTTP\/1\.1 413/);
    });

    test('POST /health without a body still answers', async () => {
      const res = await fetch(`${srv.httpUrl}/health`, { method: 'POST' });
      assert.equal(res.status, 200);
    });
  });
}
