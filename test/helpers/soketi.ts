/**
 * The reference Soketi 1.6.1 (../shared/peers/soketi/start.sh installs and starts it), on a free
 * loopback port, for tests that check wiremesh against the server it replaces. The launcher is
 * found beside the repository (or given in SOKETI_START); a test skips, with the reason, where it
 * is missing or Soketi cannot start here.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from './e2e-app.js';
import { freePort } from './server.js';

/** The launcher's path (it may not exist: see `soketiMissing`). */
export function soketiLauncher(): string {
  if (process.env.SOKETI_START) return process.env.SOKETI_START;
  const shared = ['../shared', '../../shared'].map((p) => resolve(REPO_ROOT, p)).find((p) => existsSync(p));
  return join(shared ?? resolve(REPO_ROOT, '../shared'), 'peers', 'soketi', 'start.sh');
}

/** Why Soketi cannot be started here, or false. */
export function soketiMissing(): string | false {
  const start = soketiLauncher();
  return existsSync(start) ? false : `Soketi's launcher not found at ${start} (set SOKETI_START)`;
}

export interface Soketi {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts Soketi with `settings` (`NAME=value` arguments of the launcher) and waits until it
 * answers, at most `deadlineMs` (the launcher installs Soketi on first use). Returns the reason
 * instead when it exits before answering; throws when it does not answer in time.
 */
export async function startSoketi(settings: string[] = [], deadlineMs = 90_000): Promise<Soketi | { skip: string }> {
  const port = await freePort();
  const child = spawn(soketiLauncher(), [String(port), ...settings], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  // The launcher execs node: its process group is Soketi.
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
  };
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null)
      return { skip: `Soketi could not start here (exit ${child.exitCode}): ${output.slice(-300)}` };
    const up = await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { port, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Soketi did not answer within ${deadlineMs / 1000} s:\n${output.slice(-1000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
