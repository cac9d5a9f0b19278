/**
 * What bench/run.mjs and bench/cluster.mjs share: where the shared harness and Soketi's launcher
 * are, building wiremesh when dist/ is missing, and running the harness's `compare` between two
 * sides (each: a name, harness flags, the command that starts a fresh server for a run).
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '..');
// The shared tree sits next to the checkout (/work/shared beside /work/main) or one level up.
const shared =
  ['../shared', '../../shared'].map((p) => resolve(root, p)).find((p) => existsSync(p)) ?? resolve(root, '../shared');
export const harness = process.env.PUSHER_BENCH ?? join(shared, 'bench/bench.mjs');
export const soketi = process.env.SOKETI_START ?? join(shared, 'peers/soketi/start.sh');

/** Runs `compare` (ROUNDS rounds, default 3) of `scenario` between sides a and b; exits with its status. */
export function compare(a, b, scenario) {
  if (!existsSync(harness)) {
    console.error(`bench harness not found at ${harness}; set PUSHER_BENCH to its bench.mjs`);
    process.exit(2);
  }
  if (!existsSync(join(root, 'dist/src/cli.js'))) {
    const built = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
    if (built.status !== 0) process.exit(built.status ?? 1);
  }
  const cmd = [
    harness,
    'compare',
    '--rounds',
    process.env.ROUNDS ?? '3',
    '--a-name',
    a.name,
    '--a',
    a.flags,
    '--a-start',
    a.start,
    '--b-name',
    b.name,
    '--b',
    b.flags,
    '--b-start',
    b.start,
    '--',
    ...scenario,
  ];
  const r = spawnSync(process.execPath, cmd, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
