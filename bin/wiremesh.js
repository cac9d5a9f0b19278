#!/usr/bin/env node
import { main } from '../dist/src/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`wiremesh: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
