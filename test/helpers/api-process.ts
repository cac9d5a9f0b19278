/**
 * The real CLI as a child process, with stdout and stderr kept apart (log lines go to stderr),
 * any arguments (or none), and only the environment given (plus PATH), on this Node.js or another.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './server.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'wiremesh.js');

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name when killed by one). */
  exited: Promise<number | string | null>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, node = process.execPath): CliProcess {
  const child = spawn(node, [BIN, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => (code as number | null) ?? (signal as string | null));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Writes `config` as JSON to a fresh temporary file and returns its path. */
export function configFile(config: unknown, name = 'config.json'): string {
  const file = join(mkdtempSync(join(tmpdir(), 'wiremesh-api-test-')), name);
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return file;
}

/** Waits until GET /health answers 200, or fails (and kills the child) with its output. */
export async function healthy(proc: CliProcess, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null)
      throw new Error(`wiremesh exited early (${proc.child.exitCode}):\n${proc.stderr()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL');
      throw new Error(`wiremesh did not answer /health within ${timeoutMs} ms:\n${proc.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Kills the child if it is still running (cleanup in `after`). */
export async function ensureDead(proc: CliProcess | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGKILL');
  await proc.exited;
}

/** Every non-empty stderr line parsed as JSON; throws naming the first line that is not. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`stderr line is not JSON: ${line}`);
      }
    });
}

/** Pids of a process's children (a supervisor's workers), from /proc. */
export function childPids(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

/** `wiremesh start` on a free loopback port, waited for until healthy; added to `procs` for cleanup. */
export async function startCli(
  procs: CliProcess[],
  env: NodeJS.ProcessEnv,
  node = process.execPath,
): Promise<{ proc: CliProcess; port: number }> {
  const port = await freePort();
  const proc = runCli(['start'], { WIREMESH_PORT: String(port), WIREMESH_HOST: '127.0.0.1', ...env }, node);
  procs.push(proc);
  await healthy(proc, port, 20_000);
  return { proc, port };
}
