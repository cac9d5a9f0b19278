#!/usr/bin/env node
/**
 * One wiremesh node for bench/soak.mjs: started from the built dist/ with the config given as
 * JSON in argv[2]; answers the soak's `sample` messages (IPC) with its own RSS, heap, open file
 * descriptors and event-loop lag since the previous sample. Not a CLI for anything else.
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { validateConfig } from '../dist/src/config/validate.js';
import { createLogger } from '../dist/src/log/logger.js';
import { startServer } from '../dist/src/server.js';

const config = validateConfig(JSON.parse(process.argv[2]));
const logger = createLogger({ level: config.logLevel });
const server = await startServer(config, { logger });
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

process.on('message', (msg) => {
  if (msg?.type === 'sample') {
    const mem = process.memoryUsage();
    process.send?.({
      type: 'sample',
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      external: mem.external + mem.arrayBuffers,
      fds: readdirSync('/proc/self/fd').length,
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
    });
    lag.reset();
  } else if (msg?.type === 'stop') {
    server.stop('graceful').then(
      () => process.exit(0),
      (err) => {
        logger.error('soak node shutdown failed', { err });
        process.exit(1);
      },
    );
  }
});
process.send?.({ type: 'ready', port: server.port });
