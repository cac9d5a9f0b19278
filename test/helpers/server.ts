/**
 * Starts a real wiremesh server for a test: in-process (fast) or as a child process running the
 * CLI (for signals and process behaviour). Always on port 0 / a free port, never a fixed one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../src/config/validate.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer, type StartOptions } from '../../src/server.js';

export const APP = { id: 'app-id', key: 'app-key', secret: 'app-secret' } as const;

export interface TestServer {
  port: number;
  wsUrl: string;
  httpUrl: string;
  server: RunningServer;
  logs: string[];
  close(): Promise<void>;
}

/** Default test app: client events and user authentication on. */
export function testApp(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...APP, clientEvents: true, userAuthentication: true, ...overrides };
}

export async function startTestServer(
  raw: Record<string, unknown> = {},
  options: Omit<StartOptions, 'logger'> = {},
): Promise<TestServer> {
  const config = validateConfig({ host: '127.0.0.1', port: 0, apps: [testApp()], logLevel: 'debug', ...raw });
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', sink: (line) => logs.push(line) });
  const server = await startServer(config, { logger, ...options });
  return {
    port: server.port,
    wsUrl: `ws://127.0.0.1:${server.port}`,
    httpUrl: `http://127.0.0.1:${server.port}`,
    server,
    logs,
    close: () => server.stop('immediate'),
  };
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

/**
 * A free port P with P + each of `offsets` free as well, for a script that takes one port and
 * counts the others from it (the bench's side B, a cluster's nodes and brokers): each is tried by
 * listening on it, so a port the kernel handed out as the local end of a connection is skipped.
 */
export async function freePortBase(offsets: readonly number[]): Promise<number> {
  const free = async (port: number): Promise<boolean> => {
    if (port > 65535) return false;
    const srv = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      srv.close();
      await once(srv, 'close');
    }
    return ok;
  };
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    let all = true;
    for (const o of offsets) if (o !== 0 && !(all = await free(port + o))) break;
    if (all) return port;
  }
  throw new Error(`no free port P with P + ${offsets.join(', ')} free on 127.0.0.1`);
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ServerProcess {
  port: number;
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Runs `node bin/wiremesh.js start --config <tmp file>` and waits until /health answers.
 * `root`: another build's checkout (an older version, for rolling-deploy tests).
 */
export async function spawnServer(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
  root = ROOT,
  node = process.execPath,
): Promise<ServerProcess> {
  const port = (raw.port as number | undefined) ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'wiremesh-test-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', apps: [testApp()], ...raw, port }));
  const child = spawn(node, [join(root, 'bin', 'wiremesh.js'), 'start', '--config', file], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wiremesh exited early (${child.exitCode}):\n${out}`);
    try {
      // Bounded: a port taken by something that never answers must not hang the start forever.
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`wiremesh did not start within 10 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child, output: () => out, exited, kill: (s = 'SIGTERM') => void child.kill(s) };
}
