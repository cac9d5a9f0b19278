/**
 * `wiremesh start [--config FILE]`: loads the config (file + environment), starts the server and
 * shuts it down gracefully on SIGTERM/SIGINT.
 */
import { loadConfig } from './config/load.js';
import { isDefaultCredentials } from './config/validate.js';
import { createLogger } from './log/logger.js';
import { startServer } from './server.js';
import cluster from 'node:cluster';
import { supervise, WORKER_INDEX_ENV, WORKER_SECRET_ENV, type WorkerReady } from './workers/supervisor.js';
import { workerConfig } from './workers/worker-config.js';
import { workerMetrics } from './workers/metrics.js';

const USAGE = `Usage: wiremesh start [--config FILE]

Starts a Pusher-protocol WebSocket server. With no configuration it serves one app
(id app-id, key app-key, secret app-secret) on port 6001. Every setting can also be given
as an environment variable (see docs/configuration.md); PUSHER_APP_ID/KEY/SECRET are honoured.`;

const DEFAULT_APP_WARNING =
  'serving the default app (app-id / app-key / app-secret): set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET, or a config file, before exposing this server';

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? 1 : 0;
  }
  if (command !== 'start') {
    process.stderr.write(`Unknown command: ${command}\n\n${USAGE}\n`);
    return 1;
  }
  let file: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (a === '--config' || a === '-c') file = rest[++i];
    else if (a.startsWith('--config=')) file = a.slice('--config='.length);
    else {
      process.stderr.write(`Unknown option: ${a}\n\n${USAGE}\n`);
      return 1;
    }
  }
  let config;
  try {
    config = await loadConfig({ ...(file === undefined ? {} : { file }), env: process.env });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const logger = createLogger({ level: config.logLevel });
  const workers = config.workers;
  if (workers > 1 && cluster.isPrimary) {
    if (isDefaultCredentials(config)) logger.warn(DEFAULT_APP_WARNING);
    process.exitCode = await supervise(workers, logger.child({ part: 'supervisor' }));
    return process.exitCode;
  }
  const worker = cluster.isWorker && workers > 1;
  const index = Number(process.env[WORKER_INDEX_ENV]);
  if (worker) {
    config = workerConfig(config, index, workers, process.env[WORKER_SECRET_ENV] ?? '');
  } else if (isDefaultCredentials(config)) {
    logger.warn(DEFAULT_APP_WARNING);
  }
  const server = await startServer(config, {
    logger,
    ...(worker ? { sharedPort: true, metricsFrom: (render: () => string) => workerMetrics(index, render) } : {}),
  });
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
