/**
 * `wiremesh start` on the `ws` transport runs V8 with `--no-concurrent-recompilation
 * --min-semi-space-size=4` (src/cli/ws-flags.ts): on Node 24 it replaces its own process image
 * with the flags added, so the PID the caller started is the one serving (signals and the SIGTERM
 * drain unchanged), workers inherit the flags, `WIREMESH_REEXEC=off` keeps the process as started, and the native transport
 * is left alone. The real CLI, real pusher-js and the `pusher` SDK.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { delivers, until } from './helpers/clients.js';
import { childPids, ensureDead, jsonLines, startCli, type CliProcess } from './helpers/api-process.js';
import { availableTransports } from './helpers/api-http.js';
import { currentLtsNode } from './helpers/node-current.js';

const FLAG = '--no-concurrent-recompilation';
const YOUNG = '--min-semi-space-size=4';
const node24 = currentLtsNode();
const procs: CliProcess[] = [];
after(async () => {
  for (const p of procs) await ensureDead(p);
});

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

async function drains(proc: CliProcess): Promise<void> {
  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0, proc.stderr());
  assert.ok(
    jsonLines(proc.stderr()).some((l) => l.msg === 'shutdown complete'),
    'drained before exiting',
  );
}

describe(
  'the ws transport on Node 24: its V8 flags',
  { skip: typeof node24 === 'string' ? false : node24.skip },
  () => {
    const node = node24 as string;

    it('re-executes in place with the flag: same PID serves, one set of start-up lines, SIGTERM drains', async () => {
      const { proc, port } = await startCli(procs, { WIREMESH_TRANSPORT: 'ws' }, node);
      const pid = proc.child.pid!;
      assert.ok(cmdline(pid).includes(FLAG) && cmdline(pid).includes(YOUNG), `cmdline: ${cmdline(pid).join(' ')}`);
      await delivers(port, 'jit');
      const lines = jsonLines(proc.stderr());
      assert.ok(
        lines.every((l) => l.pid === pid),
        'every line comes from the PID that was started',
      );
      assert.equal(lines.filter((l) => l.msg === 'settings from the environment').length, 1, 'logged once, after exec');
      assert.equal(lines.filter((l) => String(l.msg).startsWith('ws transport: V8 compiles')).length, 1);
      assert.equal(lines.find((l) => l.msg === 'wiremesh listening')?.transport, 'ws');
      await drains(proc);
    });

    it('workers inherit the flag from the supervisor', async () => {
      const { proc, port } = await startCli(procs, { WIREMESH_TRANSPORT: 'ws', WIREMESH_WORKERS: '2' }, node);
      const pid = proc.child.pid!;
      assert.ok(cmdline(pid).includes(FLAG));
      await until(() => childPids(pid).length === 2, 'two workers', 10_000);
      for (const w of childPids(pid))
        assert.ok(cmdline(w).includes(FLAG) && cmdline(w).includes(YOUNG), `worker ${w}: ${cmdline(w).join(' ')}`);
      await delivers(port, 'jit');
      await drains(proc);
    });

    it('WIREMESH_REEXEC=off keeps the process as started', async () => {
      const { proc, port } = await startCli(procs, { WIREMESH_TRANSPORT: 'ws', WIREMESH_REEXEC: 'off' }, node);
      assert.ok(!cmdline(proc.child.pid!).includes(FLAG) && !cmdline(proc.child.pid!).includes(YOUNG));
      assert.ok(!jsonLines(proc.stderr()).some((l) => String(l.msg).startsWith('ws transport:')));
      await delivers(port, 'jit');
      await drains(proc);
    });
  },
);

describe('on the Node.js running the suite', () => {
  it('native transport: no flag; ws without process.execve: one line saying how to add it', async (t) => {
    if ((await availableTransports()).includes('uws')) {
      const { proc, port } = await startCli(procs, { WIREMESH_TRANSPORT: 'auto' });
      assert.ok(!cmdline(proc.child.pid!).includes(FLAG));
      assert.equal(jsonLines(proc.stderr()).find((l) => l.msg === 'wiremesh listening')?.transport, 'uws');
      await delivers(port, 'jit');
      await drains(proc);
    } else t.diagnostic('native transport not loadable here: that half is not run');

    const { proc, port } = await startCli(procs, { WIREMESH_TRANSPORT: 'ws' });
    const hasExecve = typeof (process as { execve?: unknown }).execve === 'function';
    assert.equal(cmdline(proc.child.pid!).includes(FLAG), hasExecve);
    const hint = jsonLines(proc.stderr()).filter((l) =>
      String(l.msg).startsWith(`ws transport: start node with ${FLAG}`),
    );
    assert.equal(hint.length, hasExecve ? 0 : 1);
    await delivers(port, 'jit');
    await drains(proc);
  });
});
