/**
 * `wiremesh start [--config FILE]`: loads the config (file + environment), starts the server and
 * shuts it down gracefully on SIGTERM/SIGINT.
 */
import { doctor, report } from './cli/doctor.js';
import { loadEnvFile } from './cli/env-file.js';
import { logEnvSources } from './cli/env-log.js';
import { portInUse, portInUseMessage } from './cli/port-in-use.js';
import { currentImage, execPlan, givenWsFlags, wsFlagsPlan } from './cli/ws-flags.js';
import type { EnvSource } from './config/env.js';
import { loadConfig } from './config/load.js';
import { DEFAULT_APP, type Config } from './config/schema.js';
import { isDefaultCredentials } from './config/validate.js';
import { createLogger } from './log/logger.js';
import { startServer } from './server.js';
import { START_WARM_UP, WARMUP_ENV, warmUp } from './cli/warm-up.js';
import { choosesWs } from './transport/select.js';
import cluster from 'node:cluster';
import { supervise, WORKER_INDEX_ENV, WORKER_SECRET_ENV, type WorkerReady } from './workers/supervisor.js';
import { workerConfig } from './workers/worker-config.js';
import { workerMetrics } from './workers/metrics.js';

const USAGE = `Usage: wiremesh start [--config FILE] [--env-file FILE]
       wiremesh doctor [--config FILE] [--env-file FILE] [--server URL] [--url PUBLIC_URL] [--app-url LARAVEL_URL]

Starts a Pusher-protocol WebSocket server. With no configuration it serves one app
(id app-id, key app-key, secret app-secret) on port 6001. Every setting can also be given
as an environment variable (see docs/configuration.md); Laravel's REVERB_APP_*, REVERB_SERVER_HOST/PORT,
REVERB_SCALING_ENABLED + REDIS_URL and PUSHER_APP_*, and Soketi's SOKETI_DEFAULT_APP_* / SOKETI_ADAPTER_*
are read too. --env-file reads a .env file (a Laravel app's) as Node's --env-file does: variables
already in the environment win. On Fly.io (FLY_APP_NAME) the nodes form a mesh over <app>.internal by themselves.`;

/** Why an app with the default credentials is served, and what to change: the environment, or the config file that says so. */
function defaultAppWarning(config: Config, file: string | undefined, sources: readonly EnvSource[]): string {
  const fromEnv = sources.some((x) => /^apps\[\d+\]\.(key|secret)$/.test(x.path));
  if (file === undefined && !fromEnv)
    return 'serving the default app (app-id / app-key / app-secret): set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET, or a config file, before exposing this server';
  const apps = config.apps
    .filter((app) => app.key === DEFAULT_APP.key || app.secret === DEFAULT_APP.secret)
    .map((app) => app.id);
  const where = fromEnv ? 'the environment' : `the config file ${file}`;
  return `app ${apps.join(', ')} uses the default key or secret (app-key / app-secret) from ${where}: set your own there before exposing this server`;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? 1 : 0;
  }
  if (command === 'doctor') return runDoctor(rest);
  if (command !== 'start') {
    process.stderr.write(`Unknown command: ${command}\n\n${USAGE}\n`);
    return 1;
  }
  let file: string | undefined;
  let envFile: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (a === '--config' || a === '-c') file = rest[++i];
    else if (a.startsWith('--config=')) file = a.slice('--config='.length);
    else if (a === '--env-file') envFile = rest[++i];
    else if (a.startsWith('--env-file=')) envFile = a.slice('--env-file='.length);
    else {
      process.stderr.write(`Unknown option: ${a}\n\n${USAGE}\n`);
      return 1;
    }
  }
  let config;
  const sources: EnvSource[] = [];
  const notes: string[] = [];
  try {
    if (envFile !== undefined) loadEnvFile(envFile, process.env);
    config = await loadConfig({ ...(file === undefined ? {} : { file }), env: process.env, sources, notes });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  // Before anything is logged: on the ws transport this may replace the process (same PID).
  const ws = await choosesWs(config.transport);
  const flags = wsFlagsPlan(ws, currentImage());
  if (flags.action === 'exec') execPlan(flags);
  const logger = createLogger({
    level: config.logLevel,
    ...(config.region ? { context: { region: config.region } } : {}),
  });
  logEnvSources(logger, sources);
  if (cluster.isPrimary) for (const note of notes) logger.info(note);
  if (flags.action === 'unsupported' && cluster.isPrimary)
    logger.info(`ws transport: start node with ${flags.missing.join(' ')}`, {
      reason:
        'this Node.js has no process.execve (Node >= 22.15) to add them by itself; they keep ~10 MiB less after connect bursts and ~12 % less CPU per connect',
    });
  else if (flags.action === 'none' && flags.why === 'already set' && cluster.isPrimary)
    logger.info('ws transport: V8 compiles on the main thread, with a fixed young generation', {
      flags: givenWsFlags(process.execArgv),
      reason:
        'background compiler threads keep ~10 MiB of freed memory after connect bursts; a 1 MiB young generation scavenges 4x as often',
    });
  /** The port is held by another process: say which setting chose it and which change it (exit 1). */
  const refusePort = (c: Config): number => {
    process.stderr.write(`${portInUseMessage(c.host, c.port, sources, file ?? process.env.WIREMESH_CONFIG)}\n`);
    return 1;
  };
  const workers = config.workers;
  if (workers > 1 && cluster.isPrimary) {
    if (isDefaultCredentials(config))
      logger.warn(defaultAppWarning(config, file || process.env.WIREMESH_CONFIG || undefined, sources));
    // The workers bind the port with SO_REUSEPORT (both transports), which would let them join
    // another server's listening sockets on it without an error: the port is checked first.
    if (await portInUse(config.host, config.port)) {
      process.exitCode = 1;
      return refusePort(config);
    }
    process.exitCode = await supervise(workers, logger.child({ part: 'supervisor' }));
    return process.exitCode;
  }
  const worker = cluster.isWorker && workers > 1;
  const index = Number(process.env[WORKER_INDEX_ENV]);
  if (worker) {
    config = workerConfig(config, index, workers, process.env[WORKER_SECRET_ENV] ?? '');
  } else if (isDefaultCredentials(config)) {
    logger.warn(defaultAppWarning(config, file || process.env.WIREMESH_CONFIG || undefined, sources));
  }
  // Each process serving the port warms its own code (docs/transport.md, "Warm-up").
  if (ws && process.env[WARMUP_ENV] !== 'off') {
    const { ms, subscribed, received } = await warmUp(START_WARM_UP);
    logger.info('ws transport warmed up', { ...START_WARM_UP, ms, subscribed, received });
  }
  let server;
  try {
    server = await startServer(config, {
      logger,
      ...(worker ? { sharedPort: true, metricsFrom: (render: () => string) => workerMetrics(index, render) } : {}),
    });
  } catch (err) {
    if (!worker && (await portInUse(config.host, config.port))) return refusePort(config);
    throw err;
  }
  if (worker) process.send?.({ type: 'wiremesh:ready', port: server.port } satisfies WorkerReady);
  let signals = 0;
  const onSignal = (signal: string): void => {
    if (++signals > 1) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    logger.info('signal received', { signal });
    server.stop('graceful').then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // A worker's Ctrl-C reaches the whole process group; the supervisor turns it into one SIGTERM.
  process.on('SIGINT', () => (worker ? undefined : onSignal('SIGINT')));
  return 0;
}

/** `wiremesh doctor`: one line per check on stdout, exit code 1 when a problem was found. */
async function runDoctor(args: string[]): Promise<number> {
  const opts: { file?: string; envFile?: string; server?: string; url?: string; appUrl?: string } = {};
  const names: Record<string, keyof typeof opts> = {
    '--env-file': 'envFile',
    '--config': 'file',
    '-c': 'file',
    '--server': 'server',
    '--url': 'url',
    '--app-url': 'appUrl',
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const key = names[flag];
    const value = inline ?? args[++i];
    if (key === undefined || value === undefined) {
      process.stderr.write(`Unknown or incomplete option: ${a}\n\n${USAGE}\n`);
      return 1;
    }
    opts[key] = value;
  }
  const { envFile, ...checks } = opts;
  if (envFile !== undefined) {
    try {
      loadEnvFile(envFile, process.env);
    } catch (err) {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }
  const found = await doctor({ ...checks, env: process.env });
  process.exitCode = report(found, (line) => process.stdout.write(line + '\n'));
  return process.exitCode;
}
