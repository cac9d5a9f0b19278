/**
 * What a user gets from the registry: `npm pack` both packages, install the tarballs into an empty
 * folder (from the npm cache where it can), then `npx wiremesh start` serves and drains on SIGTERM,
 * `import('wiremesh')` works, no test file ships, and the browser client's exports resolve. And
 * from a git URL (`npm install git+file://…` of a clone of HEAD: no dist/ in git), `prepare` builds
 * a working `wiremesh` binary.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './helpers/server.js';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let dir = '';
let app = '';

function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
  );
}

describe('npm pack → install → run', { timeout: 300_000 }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wiremesh-pack-'));
    app = join(dir, 'app');
    await run(NPM, ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT });
    await run(NPM, ['pack', '--silent', '--pack-destination', dir], { cwd: join(ROOT, 'client') });
    const tarballs = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
    assert.equal(tarballs.length, 2, `two tarballs expected, got ${tarballs.join(', ')}`);
    await run('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((t) => join(dir, t))], {
      cwd: app,
      maxBuffer: 16 * 1024 * 1024,
    });
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships no tests, test helpers or sources maps of tests', () => {
    const files = walk(join(app, 'node_modules', 'wiremesh')).map((f) => f.slice(app.length));
    assert.ok(files.some((f) => f.endsWith('/dist/src/index.js')));
    assert.deepEqual(
      files.filter((f) => /\.test\.|test\.helper|\/dist\/test\/|\/dist\/client-test\//.test(f)),
      [],
    );
  });

  it('`npx wiremesh start` serves /ready and drains on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn('npx', ['--no-install', 'wiremesh', 'start'], {
      cwd: app,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, WIREMESH_HOST: '127.0.0.1', WIREMESH_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    // npx itself does not forward SIGTERM: the signal goes to the process group, as a terminal's
    // Ctrl-C would; the pipes close when the server itself has exited.
    const closed = once(child, 'close');
    try {
      const deadline = Date.now() + 30_000;
      let status = 0;
      while (status !== 200) {
        assert.equal(child.exitCode, null, `wiremesh exited early:\n${log}`);
        assert.ok(Date.now() < deadline, `no /ready within 30 s:\n${log}`);
        status = await fetch(`http://127.0.0.1:${port}/ready`).then(
          async (r) => (await r.arrayBuffer(), r.status),
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      process.kill(-child.pid!, 'SIGTERM');
      await closed;
      assert.match(log, /"msg":"shutting down: draining connections"/);
      assert.match(log, /"msg":"wiremesh listening"/);
      assert.match(log, /"msg":"shutdown complete"/);
    } finally {
      if (child.pid !== undefined) killGroup(child.pid);
    }
  });

  it("import('wiremesh') and import('wiremesh-livewire') work from the installed packages", async () => {
    const script = `
      const server = await import('wiremesh');
      const client = await import('wiremesh-livewire');
      const out = {
        server: typeof server.startServer + ' ' + typeof server.loadConfig,
        client: typeof client.installLivewireTransport,
        script: import.meta.resolve('wiremesh-livewire/script'),
        worker: import.meta.resolve('wiremesh-livewire/shared-worker'),
      };
      process.stdout.write(JSON.stringify(out));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
    const out = JSON.parse(stdout) as Record<string, string>;
    assert.equal(out.server, 'function function');
    assert.equal(out.client, 'function');
    for (const url of [out.script!, out.worker!]) assert.ok(existsSync(fileURLToPath(url)), url);
    assert.ok(existsSync(join(app, 'node_modules', 'wiremesh', 'dist', 'src', 'index.d.ts')));
    assert.ok(existsSync(join(app, 'node_modules', 'wiremesh-livewire', 'dist', 'types', 'index.d.ts')));
  });
});

describe('npm install from a git URL', { timeout: 300_000 }, () => {
  it('builds on install (prepare): the installed `wiremesh` binary runs', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'wiremesh-git-'));
    try {
      // The committed tree only, as a git URL gives it.
      await run('git', ['clone', '--quiet', '--depth', '1', `file://${ROOT}`, join(tmp, 'src')]);
      mkdirSync(join(tmp, 'app'));
      writeFileSync(join(tmp, 'app', 'package.json'), JSON.stringify({ private: true, type: 'module' }));
      await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', `git+file://${join(tmp, 'src')}`], {
        cwd: join(tmp, 'app'),
        maxBuffer: 16 * 1024 * 1024,
      });
      const { stdout } = await run(join(tmp, 'app', 'node_modules', '.bin', 'wiremesh'), ['help'], {
        cwd: join(tmp, 'app'),
      });
      assert.match(stdout, /^Usage: wiremesh start/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

/** SIGKILL to a process group that should already be gone (ESRCH is the expected answer). */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
