#!/usr/bin/env node
/**
 * The compiled test files to run, sorted: dist/src/**\/*.test.js, dist/test/**\/*.test.js and
 * dist/client-test/*.test.mjs, but only those whose TypeScript source still exists. The build is
 * incremental (tsc -b), so the output of a test file deleted or moved since the last build stays
 * in dist/; running it would test code that no longer exists.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const walk = (dir) =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
      )
    : [];
/** The source of a compiled test: dist/src/a.test.js -> src/a.test.ts; dist/client-test/a.test.mjs -> client/test/a.test.ts. */
const sourceOf = (file) => {
  const rel = relative(join(root, 'dist'), file);
  if (rel.startsWith('client-test/'))
    return join(root, 'client/test', rel.slice('client-test/'.length).replace(/\.mjs$/, '.ts'));
  return join(root, rel.replace(/\.js$/, '.ts'));
};
const files = walk(join(root, 'dist'))
  .filter((f) => /\.test\.(js|mjs)$/.test(f))
  .filter((f) => existsSync(sourceOf(f)))
  .map((f) => relative(process.cwd(), f))
  .sort();
process.stdout.write(files.join('\n') + '\n');
