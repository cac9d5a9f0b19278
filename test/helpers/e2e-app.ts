/**
 * The Livewire backend for end-to-end tests: the AdonisJS app in test/fixtures/livewire-app (real
 * Livewire 3 update protocol through npm `adonisjs-livewire`), run as a child process on a free port.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, from src (test/helpers) and from the build (dist/test/helpers) alike. */
export const REPO_ROOT = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const up = here.includes(`${join('dist', 'test')}`) ? ['..', '..', '..'] : ['..', '..'];
  return join(here, ...up);
})();

export const FIXTURE_APP_DIR = join(REPO_ROOT, 'test', 'fixtures', 'livewire-app');
export const CLIENT_SCRIPT = join(REPO_ROOT, 'client', 'dist', 'wiremesh-livewire.js');

/** Where pages connect their pusher-js socket; `port: null` = no socket (plain HTTP Livewire). */
export interface FixtureWiremesh {
  host: string;
  port: number | null;
  key: string;
  /** false: the socket (Echo) is connected but Livewire updates stay on HTTP. */
  transport: boolean;
}

/** A response the app gives instead of the next /livewire/update request. */
export type FixtureFault = { status: number; body?: string } | { redirect: string };

export interface RecordedUpdate {
  at: number;
  ip: string;
  headers: Record<string, string | undefined>;
  components: { name: string | null; updates: Record<string, unknown>; calls: string[] }[];
}

export interface FixtureState {
  status: string;
  wiremesh: FixtureWiremesh;
  faults: FixtureFault[];
  /** How a bad CSRF token is answered: AdonisJS shield's 302 back, or Laravel's 419. */
  csrfFailure: 'redirect' | '419';
  /** Update requests received since start (or the last `resetUpdates`). */
  updateCount: number;
  /** The last 20 of them. */
  updates: RecordedUpdate[];
}

export interface FixtureStateChange {
  status?: string;
  wiremesh?: Partial<FixtureWiremesh>;
  faults?: FixtureFault[];
  csrfFailure?: 'redirect' | '419';
  resetUpdates?: boolean;
}

export interface FixtureApp {
  /** Origin, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  port: number;
  output(): string;
  state(): Promise<FixtureState>;
  setState(change: FixtureStateChange): Promise<FixtureState>;
  close(): Promise<void>;
}

export interface FixtureAppOptions {
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
}

/** Spawns `node test/fixtures/livewire-app/bin/server.js` and waits until it answers. */
export async function startFixtureApp(options: FixtureAppOptions = {}): Promise<FixtureApp> {
  const child = spawn(process.execPath, [join(FIXTURE_APP_DIR, 'bin', 'server.js')], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      APP_KEY: 'wiremesh-e2e-fixture-app-key-000',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  // If the test process dies without closing the app, do not leave it running.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  let url: string | undefined;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`fixture app exited early (${child.exitCode}):\n${out}`);
    url ??= /listening (http:\/\/[\d.]+:\d+)/.exec(out)?.[1];
    if (url !== undefined) {
      try {
        const res = await fetch(`${url}/_fixture/state`);
        if (res.ok) break;
      } catch {
        // not answering yet
      }
    }
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`fixture app did not start in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const origin = url;
  return {
    url: origin,
    port: Number(new URL(origin).port),
    output: () => out,
    state: async () => (await (await fetch(`${origin}/_fixture/state`)).json()) as FixtureState,
    setState: async (change) => {
      const res = await fetch(`${origin}/_fixture/state`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(change),
      });
      if (!res.ok) throw new Error(`fixture state change refused: ${res.status} ${await res.text()}`);
      return (await res.json()) as FixtureState;
    },
    close: kill,
  };
}
