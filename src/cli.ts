/**
 * `wiremesh start [--config FILE]`: loads the config (file + environment), starts the server and
 * shuts it down gracefully on SIGTERM/SIGINT.
 */
import { loadConfig } from './config/load.js';
import { isDefaultCredentials } from './config/validate.js';
import { createLogger } from './log/logger.js';
import { startServer } from './server.js';

const USAGE = `Usage: wiremesh start [--config FILE]

Starts a Pusher-protocol WebSocket server. With no configuration it serves one app
(id app-id, key app-key, secret app-secret) on port 6001. Every setting can also be given
as an environment variable (see docs/configuration.md); PUSHER_APP_ID/KEY/SECRET are honoured.`;

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
    config = await loadConfig({ file, env: process.env });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const logger = createLogger({ level: config.logLevel });
  if (isDefaultCredentials(config)) {
    logger.warn('serving the default app (app-id / app-key / app-secret): set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET, or a config file, before exposing this server');
  }
  const server = await startServer(config, { logger });
  let signals = 0;
  const onSignal = (signal: string): void => {
    if (++signals > 1) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    logger.info('signal received', { signal });
    server.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return 0;
}
