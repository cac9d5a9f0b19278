/**
 * A Node.js of the current LTS line (24) for tests that must see what the supported runtime does
 * while the suite itself runs on the machine's Node: `WIREMESH_TEST_NODE` when set, else the
 * `node@24` package from the npm registry through `npx` (cached after the first run), else a skip
 * reason naming why.
 */
import { spawnSync } from 'node:child_process';

export function currentLtsNode(): string | { skip: string } {
  const given = process.env.WIREMESH_TEST_NODE;
  if (given) return given;
  const r = spawnSync('npx', ['-y', 'node@24', '-p', 'process.execPath'], { encoding: 'utf8', timeout: 180_000 });
  const path = r.stdout?.trim().split('\n').pop();
  if (r.status !== 0 || !path) return { skip: `no Node 24: npx -y node@24 failed (${r.error?.message ?? r.stderr})` };
  return path;
}
