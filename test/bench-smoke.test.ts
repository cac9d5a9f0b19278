/**
 * Every benchmark script still runs: each bench/*.mjs with tiny parameters (seconds, figures that
 * mean nothing), asserting it exits 0 and prints its result line, so a refactor that breaks one
 * fails here rather than in the next measuring session. A script added to bench/ without a line
 * below fails the first test. Scripts that need the shared Pusher bench harness run wiremesh
 * against itself, and are skipped, saying why, where the harness is not installed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePortBase } from './helpers/server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BENCH = join(ROOT, 'bench');
const SHARED = ['../shared', '../../shared'].map((p) => resolve(ROOT, p)).find((p) => existsSync(p));
const HARNESS = process.env.PUSHER_BENCH ?? join(SHARED ?? resolve(ROOT, '../shared'), 'bench', 'bench.mjs');

/** Why the shared harness cannot run here, or null when it can. */
function harnessMissing(): string | null {
  if (!existsSync(HARNESS)) return `the shared Pusher bench harness is not at ${HARNESS} (set PUSHER_BENCH)`;
  if (!existsSync(join(dirname(HARNESS), 'node_modules', 'ws')))
    return `the bench harness's dependencies are not installed (cd ${dirname(HARNESS)} && npm ci)`;
  return null;
}

interface SmokeRun {
  args: string[];
  env?: Record<string, string>;
  /** A temporary directory the run writes into (heap snapshots, profiles): removed afterwards. */
  temp?: string;
}

interface Smoke {
  /** node flags, script arguments and environment of the tiny run; a function when they need set-up. */
  run?: () => Promise<SmokeRun> | SmokeRun;
  /** The line that says the run produced its result. */
  result?: RegExp;
  /** Not run on its own: why (it is run by another script, or cannot run here). */
  skip?: () => string | null;
}

/** Why the real-Laravel rig cannot run here (without building it: minutes), or null when it can. */
function laravelRigMissing(): string | null {
  if (process.getuid?.() !== 0) return 'runs PHP in a chroot, which needs root';
  const cache = process.env.WIREMESH_LARAVEL_WORK ?? '/var/tmp/wiremesh-laravel';
  const fpmRoot = process.env.WIREMESH_LARAVEL_RTT_ROOT ?? '/var/tmp/wiremesh-laravel-rtt';
  if (!existsSync(join(cache, 'root', '.wiremesh-laravel')) && !existsSync(join(fpmRoot, '.wiremesh-laravel')))
    return `the real-Laravel rig is not built (run .ci/laravel as root once; see bench/laravel-rtt.mjs for its php-fpm copy)`;
  return null;
}

const SMOKES: Record<string, Smoke> = {
  'compare.mjs': { skip: () => 'a module of run.mjs and cluster.mjs, run through them' },
  'delay-proxy.mjs': { skip: () => 'a module of livewire-rtt.mjs and laravel-rtt.mjs, run through them' },
  'raw-client.mjs': { skip: () => 'a module of history.mjs and history-broker.mjs, run through them' },
  'soak-node.mjs': { skip: () => "soak.mjs's node process, run through it" },
  'heap-diff.mjs': { skip: () => "soak.mjs's snapshot comparison, run through it (SNAPSHOTS)" },
  'livewire-rtt.mjs': {
    // 500 requests on one socket: far more than the default frame limit allows a client; a few
    // pages at once, through the delay proxy, with the floor row.
    run: () => ({
      args: [
        'bench/livewire-rtt.mjs',
        '--n=500',
        '--per-page=5',
        '--rounds=1',
        '--delays=0,2',
        '--concurrency=1,3',
        '--relay',
      ],
    }),
    result:
      /^ +2 \| +3 \| +15 \| this \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+ \| -?[\d.]+ \/ -?[\d.]+ \| \d+ \(user \d+\)$/m,
  },
  'laravel-rtt.mjs': {
    skip: laravelRigMissing,
    run: () => ({ args: ['bench/laravel-rtt.mjs', '--n=5', '--warmup=1', '--delays=0'] }),
    result:
      /^ +0 ms \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+$/m,
  },
  'soak.mjs': {
    run: () => {
      const temp = mkdtempSync(join(tmpdir(), 'wiremesh-soak-'));
      return {
        args: ['bench/soak.mjs'],
        env: { MINUTES: '0.1', SAMPLE_S: '2', CLIENTS: '20', CHURN_PER_S: '2', API_PER_S: '5', SNAPSHOTS: temp },
        temp,
      };
    },
    result: /^node 1: rss .* MB\/h[\s\S]*^node 1 heap between snapshots: [\s\S]*^soak: both nodes stopped cleanly$/m,
  },
  'fragments.mjs': {
    run: () => ({ args: ['bench/fragments.mjs', '--viewers=4', '--changes=2'] }),
    result: /^fragments +\| +\d+ \|[\s\S]*^livewire +\| +\d+ \|.*\| 8 \| 0 \| \d+$/m,
  },
  'history-broker.mjs': {
    run: () => ({ args: ['bench/history-broker.mjs', '--quick'] }),
    result:
      /^round 1 broker \{"fanout":\{"deliveries_per_s":[\d.]+,[\s\S]*^fan-out vs history off \(last round\): memory [\d.]+×, broker [\d.]+×$/m,
  },
  'history.mjs': {
    run: () => ({ args: ['--expose-gc', 'bench/history.mjs', '--quick'] }),
    result: /^\{"sequence_ns_per_event":\d+,.*"replay_remote":\{"median_ms":/m,
  },
  'regions.mjs': {
    run: () => ({
      args: ['bench/regions.mjs', '--joins', '2', '--events', '5', '--entries', '2000', '--nodes', '3'],
    }),
    result: /^regions: 5 nodes[\s\S]*^\| 3 \| 3 \| [\d.]+ KiB\/s \|/m,
  },
  'node-failure.mjs': {
    run: () => ({
      args: ['bench/node-failure.mjs', 'redis', '--rounds', '1', '--node-timeout-ms', '1000', '--heartbeat-ms', '200'],
    }),
    result: /^\{"kind":"redis",.*"removed_after_ms":\[\d+\],"median_ms":\d+\}$/m,
  },
  'profile-summary.mjs': {
    run: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wiremesh-bench-smoke-'));
      const prof = spawn(process.execPath, [
        '--cpu-prof',
        `--cpu-prof-dir=${dir}`,
        '-e',
        'let x = 0; for (let i = 0; i < 3e6; i++) x += Math.sqrt(i); console.log(x > 0)',
      ]);
      await once(prof, 'exit');
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      assert.ok(file, `no .cpuprofile written in ${dir}`);
      return { args: ['bench/profile-summary.mjs', join(dir, file), '5'], temp: dir };
    },
    result: /ms sampled busy[\s\S]*^self time by function$[\s\S]*^self time by file$/m,
  },
  'run.mjs': {
    skip: harnessMissing,
    run: async () => ({
      args: ['bench/run.mjs', 'connect', '--clients', '10'],
      // run.mjs: side A on BENCH_PORT, side B on the next.
      env: { A: 'wiremesh', ROUNDS: '1', BENCH_PORT: String(await freePortBase([1])), PUSHER_BENCH: HARNESS },
    }),
    result: /^runs ok +1\/1 +1\/1/m,
  },
  'cluster.mjs': {
    skip: harnessMissing,
    run: async () => ({
      args: ['bench/cluster.mjs', 'redis', 'connect', '--clients', '10'],
      // cluster.mjs: each side's nodes on p, p + 1 and its brokers on p + 37, p + 38; side B at p + 100.
      env: {
        A: 'wiremesh:mesh',
        ROUNDS: '1',
        BENCH_PORT: String(await freePortBase([1, 37, 38, 100, 101, 137, 138])),
        PUSHER_BENCH: HARNESS,
      },
    }),
    result: /^runs ok +1\/1 +1\/1/m,
  },
  'capacity-client.mjs': { skip: () => "capacity.mjs's client process, run through it" },
  'capacity.mjs': {
    run: () => ({
      args: ['bench/capacity.mjs'],
      env: { N: '200', WORKERS: '2', CLIENT_PROCS: '2', SOURCES: '2', SETTLE_S: '1' },
    }),
    result: /^broadcast: received \/ expected +\| 200 \/ 200$[\s\S]*^\{"scenario":"capacity",/m,
  },
};

const TIMEOUT_MS = 60_000;

async function runScript(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a hung run is killed with everything it started
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), TIMEOUT_MS);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, out };
}

describe('bench scripts, tiny runs', { timeout: 240_000 }, () => {
  it('every bench/*.mjs has a smoke run here', () => {
    const scripts = readdirSync(BENCH).filter((f) => f.endsWith('.mjs'));
    assert.deepEqual(
      scripts.filter((f) => !(f in SMOKES)),
      [],
      'add a tiny run of each new bench script',
    );
  });

  for (const [script, smoke] of Object.entries(SMOKES)) {
    it(script, async (t) => {
      const why = smoke.skip?.() ?? null;
      if (why !== null || !smoke.run) return t.skip(why ?? 'no run');
      const { args, env, temp } = await smoke.run();
      if (temp !== undefined) t.after(() => rmSync(temp, { recursive: true, force: true }));
      const started = Date.now();
      const { code, out } = await runScript(args, env);
      const tail = out.slice(-3000);
      assert.equal(code, 0, `${script} exited ${code} after ${Date.now() - started} ms:\n${tail}`);
      assert.match(out, smoke.result!, `${script}: no result line in its output:\n${tail}`);
    });
  }
});
