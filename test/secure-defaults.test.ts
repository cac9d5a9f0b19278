/**
 * The publicly known default credentials (app-id / app-key / app-secret) are served on loopback
 * only (config/validate.ts, docs/security.md "Secure defaults"), checked through the real CLI as
 * an operator starts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverSdk } from './helpers/clients.js';
import { freePort } from './helpers/server.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'wiremesh.js');

interface Run {
  code: Promise<number | null>;
  output: () => string;
  stop: () => Promise<void>;
}

function start(env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [BIN, 'start'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = once(child, 'exit').then(([c]) => c as number | null);
  return {
    code,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await code;
      }
    },
  };
}

async function healthy(host: string, port: number, run: Run): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`http://${host}:${port}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no /health within 10 s:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An address of this machine that is not loopback, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

async function refused(host: string, port: number): Promise<boolean> {
  const socket = net.connect(port, host);
  try {
    await once(socket, 'connect');
    return false;
  } catch {
    return true;
  } finally {
    socket.destroy();
  }
}

test('WIREMESH_HOST=0.0.0.0 with the default credentials: the CLI refuses to start, naming what to set', async () => {
  const run = start({ WIREMESH_HOST: '0.0.0.0', WIREMESH_PORT: String(await freePort()) });
  try {
    const code = await Promise.race([run.code, new Promise<'running'>((r) => setTimeout(r, 10_000, 'running'))]);
    // Old code: listened on 0.0.0.0 with a warning.
    assert.equal(code, 1, run.output());
    assert.match(
      run.output(),
      /Invalid config: host \("0\.0\.0\.0"\) serves apps\[0\] with the publicly known key\/secret/,
    );
    assert.match(run.output(), /PUSHER_APP_SECRET/);
  } finally {
    await run.stop();
  }
});

test('no host and the default credentials (a fresh `npm start`): served on 127.0.0.1 only', async () => {
  const port = await freePort();
  const run = start({ WIREMESH_PORT: String(port) });
  try {
    await healthy('127.0.0.1', port, run);
    assert.match(run.output(), /"msg":"wiremesh listening"[^\n]*"host":"127\.0\.0\.1"/);
    assert.equal((await serverSdk(port).trigger('c', 'e', {})).status, 200);
    const external = externalAddress();
    if (external !== undefined) assert.equal(await refused(external, port), true, `reachable on ${external}`);
  } finally {
    await run.stop();
  }
});

test('WIREMESH_HOST=0.0.0.0 with real credentials starts on every interface', async () => {
  const port = await freePort();
  const creds = {
    PUSHER_APP_ID: 'prod',
    PUSHER_APP_KEY: 'k-7d1f0c2b',
    PUSHER_APP_SECRET: 's-4f1e9a8c0b7d6e5f4a3b2c1d',
  };
  const run = start({ WIREMESH_HOST: '0.0.0.0', WIREMESH_PORT: String(port), ...creds });
  try {
    await healthy('127.0.0.1', port, run);
    assert.match(run.output(), /"msg":"wiremesh listening"[^\n]*"host":"0\.0\.0\.0"/);
    const sdk = serverSdk(port, {
      appId: creds.PUSHER_APP_ID,
      key: creds.PUSHER_APP_KEY,
      secret: creds.PUSHER_APP_SECRET,
    });
    assert.equal((await sdk.trigger('c', 'e', {})).status, 200);
  } finally {
    await run.stop();
  }
});
