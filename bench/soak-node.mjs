#!/usr/bin/env node
/**
 * One wiremesh node for bench/soak.mjs: started from the built dist/ with the config given as
 * JSON in argv[2]; answers the soak's `sample` messages (IPC) with its own RSS, heap, open file
 * descriptors and event-loop lag since the previous sample, and its `snapshot` messages with a
 * heap snapshot written to the path given (the lag of that pause is not counted in the next
 * sample). Not a CLI for anything else.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
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
    // Where the RSS is: anonymous memory (V8's heap, malloc's arenas) against file pages (code).
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    process.send?.({
      type: 'sample',
      rss: mem.rss,
      rssAnon: kb('RssAnon'),
      rssFile: kb('RssFile'),
      heapTotal: mem.heapTotal,
      heapUsed: mem.heapUsed,
      external: mem.external + mem.arrayBuffers,
      fds: readdirSync('/proc/self/fd').length,
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
    });
    lag.reset();
  } else if (msg?.type === 'snapshot') {
    const file = writeHeapSnapshot(msg.path);
    lag.reset();
    process.send?.({ type: 'snapshot', file });
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
