import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REEXEC_ENV, SERIAL_JIT_FLAG, serialJitNote, serialJitPlan, type ProcessImage } from './serial-jit.js';

const image = (over: Partial<ProcessImage> = {}): ProcessImage => ({
  execPath: '/usr/local/bin/node',
  execArgv: ['--enable-source-maps'],
  argv: ['/usr/local/bin/node', '/opt/wiremesh/bin/wiremesh.js', 'start', '--config', '/etc/wiremesh.json'],
  env: { PATH: '/usr/bin', PUSHER_APP_KEY: 'k' },
  canExec: true,
  ...over,
});

test('ws transport: the same command with the flag first, the environment kept plus the guard', () => {
  const plan = serialJitPlan(true, image());
  assert.deepEqual(plan, {
    action: 'exec',
    file: '/usr/local/bin/node',
    args: [
      '/usr/local/bin/node',
      SERIAL_JIT_FLAG,
      '--enable-source-maps',
      '/opt/wiremesh/bin/wiremesh.js',
      'start',
      '--config',
      '/etc/wiremesh.json',
    ],
    env: { PATH: '/usr/bin', PUSHER_APP_KEY: 'k', [REEXEC_ENV]: '1' },
  });
});

test('the re-executed process (flag present) and a process started with the flag do nothing', () => {
  assert.deepEqual(serialJitPlan(true, image({ execArgv: [SERIAL_JIT_FLAG] })), {
    action: 'none',
    why: 'already serial',
  });
});

test('native transport, opt-out, and no process.execve', () => {
  assert.deepEqual(serialJitPlan(false, image()), { action: 'none', why: 'native transport' });
  assert.deepEqual(serialJitPlan(true, image({ env: { [REEXEC_ENV]: 'off' } })), { action: 'none', why: 'opted out' });
  // The guard alone stops a loop even if the flag were somehow lost.
  assert.deepEqual(serialJitPlan(true, image({ env: { [REEXEC_ENV]: '1' } })), { action: 'none', why: 'opted out' });
  assert.deepEqual(serialJitPlan(true, image({ canExec: false })), { action: 'unsupported' });
});

test('the doctor clause names what start will do', () => {
  assert.match(serialJitNote(image()), /adds --no-concurrent-recompilation/);
  assert.match(serialJitNote(image({ canExec: false })), /start node with --no-concurrent-recompilation/);
  assert.match(serialJitNote(image({ env: { [REEXEC_ENV]: 'off' } })), /WIREMESH_REEXEC is set/);
  assert.match(serialJitNote(image({ execArgv: [SERIAL_JIT_FLAG] })), /^runs with/);
});
