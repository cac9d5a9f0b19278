import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  REEXEC_ENV,
  SERIAL_JIT_FLAG,
  WS_V8_FLAGS,
  YOUNG_GENERATION_FLAG,
  givenWsFlags,
  missingWsFlags,
  wsFlagsNote,
  wsFlagsPlan,
  type ProcessImage,
} from './ws-flags.js';

const image = (over: Partial<ProcessImage> = {}): ProcessImage => ({
  execPath: '/usr/local/bin/node',
  execArgv: ['--enable-source-maps'],
  argv: ['/usr/local/bin/node', '/opt/wiremesh/bin/wiremesh.js', 'start', '--config', '/etc/wiremesh.json'],
  env: { PATH: '/usr/bin', PUSHER_APP_KEY: 'k' },
  canExec: true,
  ...over,
});

test('ws transport: the same command with the flags first, the environment kept plus the guard', () => {
  const plan = wsFlagsPlan(true, image());
  assert.deepEqual(plan, {
    action: 'exec',
    file: '/usr/local/bin/node',
    args: [
      '/usr/local/bin/node',
      SERIAL_JIT_FLAG,
      YOUNG_GENERATION_FLAG,
      '--enable-source-maps',
      '/opt/wiremesh/bin/wiremesh.js',
      'start',
      '--config',
      '/etc/wiremesh.json',
    ],
    env: { PATH: '/usr/bin', PUSHER_APP_KEY: 'k', [REEXEC_ENV]: '1' },
  });
});

test('only the missing flags are added; a semi-space size the operator chose is kept', () => {
  assert.deepEqual(missingWsFlags([SERIAL_JIT_FLAG]), [YOUNG_GENERATION_FLAG]);
  assert.deepEqual(missingWsFlags(['--min-semi-space-size=16']), [SERIAL_JIT_FLAG]);
  assert.deepEqual(missingWsFlags(['--max-semi-space-size=16']), [...WS_V8_FLAGS]);
  assert.deepEqual(
    givenWsFlags(['--inspect', '--min-semi-space-size=16', SERIAL_JIT_FLAG, '--max-semi-space-size=16']),
    ['--min-semi-space-size=16', SERIAL_JIT_FLAG],
  );
  const plan = wsFlagsPlan(true, image({ execArgv: ['--min-semi-space-size=16'] }));
  assert.equal(plan.action, 'exec');
  if (plan.action === 'exec')
    assert.deepEqual(plan.args.slice(0, 3), ['/usr/local/bin/node', SERIAL_JIT_FLAG, '--min-semi-space-size=16']);
});

test('the re-executed process (flags present) and a process started with them do nothing', () => {
  assert.deepEqual(wsFlagsPlan(true, image({ execArgv: [...WS_V8_FLAGS] })), { action: 'none', why: 'already set' });
  assert.deepEqual(wsFlagsPlan(true, image({ execArgv: [YOUNG_GENERATION_FLAG, SERIAL_JIT_FLAG, '--inspect'] })), {
    action: 'none',
    why: 'already set',
  });
});

test('native transport, opt-out, and no process.execve', () => {
  assert.deepEqual(wsFlagsPlan(false, image()), { action: 'none', why: 'native transport' });
  assert.deepEqual(wsFlagsPlan(true, image({ env: { [REEXEC_ENV]: 'off' } })), { action: 'none', why: 'opted out' });
  // The guard alone stops a loop even if a flag were somehow lost.
  assert.deepEqual(wsFlagsPlan(true, image({ env: { [REEXEC_ENV]: '1' } })), { action: 'none', why: 'opted out' });
  assert.deepEqual(wsFlagsPlan(true, image({ canExec: false })), { action: 'unsupported', missing: [...WS_V8_FLAGS] });
});

test('the doctor clause names what start will do', () => {
  assert.match(wsFlagsNote(image()), /adds --no-concurrent-recompilation --min-semi-space-size=4 \(re-exec/);
  assert.match(
    wsFlagsNote(image({ canExec: false })),
    /start node with --no-concurrent-recompilation --min-semi-space-size=4/,
  );
  assert.match(wsFlagsNote(image({ env: { [REEXEC_ENV]: 'off' } })), /WIREMESH_REEXEC is set/);
  assert.match(wsFlagsNote(image({ execArgv: [...WS_V8_FLAGS] })), /^runs with/);
});
