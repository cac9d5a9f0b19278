/**
 * `wiremesh start --env-file PATH` reads a Laravel .env as Node's --env-file does (the environment
 * wins over the file, then the usual precedence), and a port already in use says which setting
 * chose it and which ones change it.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { connected, pusherClient } from './helpers/clients.js';
import { loadEnvFile } from '../src/cli/env-file.js';
import { configFile, ensureDead, healthy, runCli, type CliProcess } from './helpers/api-process.js';
import { freePort } from './helpers/server.js';

const procs: CliProcess[] = [];
after(async () => {
  for (const p of procs) await ensureDead(p);
});

const laravelEnv = (port: number): string =>
  [
    'APP_NAME=Laravel',
    'BROADCAST_DRIVER=wiremesh',
    'PUSHER_APP_ID=123456',
    'PUSHER_APP_KEY="file-key"',
    'PUSHER_APP_SECRET=0123456789abcdef0123456789abcdef',
    `WIREMESH_PORT=${port}`,
    'WIREMESH_HOST=127.0.0.1',
    '',
  ].join('\n');

async function accepts(port: number, key: string): Promise<boolean> {
  const client = pusherClient(port, { key });
  try {
    await connected(client, 3_000);
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

test('--env-file supplies the app and the port; a variable already in the environment wins', async () => {
  const port = await freePort();
  const file = configFile(laravelEnv(port), '.env');
  const proc = runCli(['start', '--env-file', file], { PUSHER_APP_KEY: 'env-key' });
  procs.push(proc);
  await healthy(proc, port);
  assert.equal(await accepts(port, 'env-key'), true);
  assert.equal(await accepts(port, 'file-key'), false);
  assert.match(proc.stderr(), /"apps\[0\]\.id":"PUSHER_APP_ID"/);
  await ensureDead(proc);
});

test('a port already in use names the setting that chose it and the ones that change it', async () => {
  const port = await freePort();
  const holder = createServer().listen(port, '127.0.0.1');
  await once(holder, 'listening');
  try {
    const proc = runCli(['start', `--env-file=${configFile(laravelEnv(port), '.env')}`]);
    procs.push(proc);
    assert.equal(await proc.exited, 1);
    assert.match(
      proc.stderr(),
      new RegExp(
        `port ${port} on 127\\.0\\.0\\.1 is already in use \\(set by environment variable WIREMESH_PORT\\).*WIREMESH_PORT \\(or PORT\\), "port" in the config file, or php artisan wiremesh:start --port`,
      ),
    );
    assert.doesNotMatch(proc.stderr(), /\n\s+at /, 'no stack trace');
  } finally {
    holder.close();
  }
});

test('an env file that cannot be read is named', async () => {
  // Node 20 itself looks at `--env-file` anywhere in argv and refuses a missing file first (exit 9);
  // later Nodes leave it to wiremesh. Either way the file is named and the server does not start.
  const proc = runCli(['start', '--env-file=/nonexistent/wiremesh.env']);
  procs.push(proc);
  assert.notEqual(await proc.exited, 0);
  assert.match(proc.stderr(), /\/nonexistent\/wiremesh\.env: (not found|no such file)/);
  assert.throws(() => loadEnvFile('/nonexistent/wiremesh.env', {}), {
    message: 'Cannot read env file /nonexistent/wiremesh.env: no such file',
  });
});

test('loadEnvFile adds only what the environment does not set, with .env quoting', () => {
  const env: NodeJS.ProcessEnv = { PUSHER_APP_KEY: 'env-key' };
  const added = loadEnvFile(configFile('PUSHER_APP_KEY=file\nA="quoted value"\n# comment\nB=\'x\'\n', '.env'), env);
  assert.deepEqual(added, ['A', 'B']);
  assert.deepEqual(env, { PUSHER_APP_KEY: 'env-key', A: 'quoted value', B: 'x' });
});
