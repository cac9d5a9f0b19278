/**
 * Real brokers for tests: starts the `redis-server` and `nats-server` binaries (Debian packages
 * `redis-server`, `nats-server`) as child processes on free ports, and waits until they accept
 * connections. Redis persists nothing; nats-server runs JetStream (`-js`) with its store in a fresh
 * directory of its own, which outlives a restart (as a real server's disk does). `kill()` and `restart()` (same port) drive fault tests.
 *
 * Every broker started here is SIGKILLed when the test process exits, so a failed test never
 * leaves one behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './server.js';

export type BrokerKind = 'redis' | 'nats';

export interface Broker {
  readonly kind: BrokerKind;
  readonly port: number;
  /** `redis://127.0.0.1:P` or `nats://127.0.0.1:P`. */
  readonly url: string;
  /** True while the server process runs. */
  readonly running: boolean;
  /** Graceful stop (SIGTERM); resolves once the process has exited. */
  stop(): Promise<void>;
  /** Abrupt crash (SIGKILL); resolves once the process has exited. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (stopping it first if it runs). */
  restart(): Promise<void>;
}

const BINARIES: Record<BrokerKind, string> = { redis: 'redis-server', nats: 'nats-server' };
const START_TIMEOUT_MS = 10_000;

/** Absolute path of the broker's binary, or null when it is not installed. */
export function brokerBinary(kind: BrokerKind): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, BINARIES[kind]);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return null;
}

export interface BrokerOptions {
  /** Redis only: run as a one-node Redis Cluster owning all 16384 slots. */
  cluster?: boolean;
  /** NATS only: JetStream on (the default), its store in the broker's own fresh directory, kept across restarts. */
  jetstream?: boolean;
  /** NATS only: the server's max_payload in bytes (default 1 MiB). */
  maxPayload?: number;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function startBroker(kind: BrokerKind, options: BrokerOptions = {}): Promise<Broker> {
  const binary = brokerBinary(kind);
  if (!binary) {
    throw new Error(`${BINARIES[kind]} is not installed: apt-get install -y redis-server nats-server`);
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `wiremesh-${kind}-`));
  const args =
    kind === 'redis'
      ? [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          ...(options.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')] : []),
        ]
      : [
          '-a',
          '127.0.0.1',
          '-p',
          String(port),
          ...(options.jetstream === false ? [] : ['-js', '-sd', dir]),
          ...(options.maxPayload === undefined ? [] : ['-c', natsConfig(dir, `max_payload: ${options.maxPayload}\n`)]),
        ];

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (d: Buffer): void => {
      output = (output + d.toString()).slice(-4000);
    };
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    live.add(proc);
    exited = once(proc, 'exit').then(() => {
      live.delete(proc);
    });
    child = proc;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await accepts(port))) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`${BINARIES[kind]} exited during start on port ${port}:\n${output}`);
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(
          `${BINARIES[kind]} did not accept connections on port ${port} within ${START_TIMEOUT_MS} ms:\n${output}`,
        );
      }
      await sleep(25);
    }
    if (kind === 'redis' && options.cluster) await assignAllSlots(port);
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await exited;
    child = null;
  };

  await launch();
  return {
    kind,
    port,
    url: `${kind}://127.0.0.1:${port}`,
    get running() {
      const proc = child as ChildProcess | null;
      return proc !== null && proc.exitCode === null && proc.signalCode === null;
    },
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGTERM');
      await launch();
    },
  };
}

/** Writes a nats-server config file in `dir`; returns its path. */
function natsConfig(dir: string, text: string): string {
  const file = join(dir, 'nats.conf');
  writeFileSync(file, text);
  return file;
}

/** True if a TCP connection to 127.0.0.1:port succeeds. */
async function accepts(port: number): Promise<boolean> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/** Makes a one-node Redis Cluster serve every slot (kept across restarts), then waits for `cluster_state:ok`. */
async function assignAllSlots(port: number): Promise<void> {
  const info = await redisCommand(port, ['CLUSTER', 'INFO']);
  if (!info.includes('cluster_slots_assigned:16384'))
    await redisCommand(port, ['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await redisCommand(port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok')) {
    if (Date.now() > deadline) throw new Error(`redis cluster on port ${port} did not reach cluster_state:ok`);
    await sleep(25);
  }
}

/** Sends one command over a raw connection and returns the raw reply text (tests only). */
async function redisCommand(port: number, args: string[]): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    const [data] = (await once(socket, 'data')) as [Buffer];
    const reply = data.toString();
    if (reply.startsWith('-')) throw new Error(`redis ${args.join(' ')}: ${reply.trim()}`);
    return reply;
  } finally {
    socket.destroy();
  }
}
