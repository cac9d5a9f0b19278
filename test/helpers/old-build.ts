/**
 * An older build of this repository, for rolling-deploy tests: `git archive <commit>` into a
 * temporary folder, the same node_modules (symlinked), and its server compiled there with the
 * same TypeScript. Returns the folder (run `bin/wiremesh.js` from it), or null with the reason
 * when the history is not there (a shallow clone, an export without .git).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface OldBuild {
  commit: string;
  dir: string;
  remove(): Promise<void>;
}

/** The commit just before the first one whose `path` contains `marker` (the build before a change). */
export async function commitBefore(path: string, marker: string): Promise<string | { skip: string }> {
  try {
    const { stdout } = await run('git', ['-C', REPO_ROOT, 'log', '--format=%H', '--reverse', '-S', marker, '--', path]);
    const first = stdout.split('\n')[0]?.trim();
    if (!first) return { skip: `no commit in this history adds ${JSON.stringify(marker)} to ${path}` };
    const { stdout: parent } = await run('git', ['-C', REPO_ROOT, 'rev-parse', '--verify', '--quiet', `${first}^`]);
    return parent.trim();
  } catch (err) {
    return { skip: `git history unavailable: ${(err as Error).message.split('\n')[0]}` };
  }
}

export async function buildOld(commit: string): Promise<OldBuild> {
  const dir = await mkdtemp(join(tmpdir(), 'wiremesh-old-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await run(
      'bash',
      ['-c', `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, 'archive', REPO_ROOT, commit, dir],
      { maxBuffer: 1 << 20 },
    );
    await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    // The server only (no tests, no browser client): what `wiremesh start` runs.
    await writeFile(
      join(dir, 'tsconfig.old.json'),
      JSON.stringify({
        extends: './tsconfig.json',
        include: ['src/**/*.ts'],
        exclude: ['src/**/*.test.ts'],
        compilerOptions: { declaration: false, sourceMap: false },
      }),
    );
    await run(
      process.execPath,
      [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.old.json')],
      { cwd: dir, maxBuffer: 4 << 20 },
    );
    return { commit, dir, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
