// Bundles the browser client (ESM for Vite, IIFE for a <script> tag, the optional SharedWorker)
// and its unit tests (to ../dist/client-test, where the root `npm test` finds them).
// Type checking is done before this by `tsc -b client/tsconfig.json client/tsconfig.test.json`.
// Skipped when every output is newer than every input (the sources, the tests, this file, the
// lockfile: a new pusher-js or esbuild); `--force` builds anyway.
import { build } from 'esbuild';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = (file) => join(here, 'src', file);
const out = (file) => join(here, 'dist', file);
const browser = {
  bundle: true,
  target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
};
const tests = readdirSync(join(here, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => join(here, 'test', f));

const outputs = [
  out('wiremesh-livewire.mjs'),
  out('wiremesh-livewire.js'),
  out('wiremesh-shared-worker.js'),
  ...tests.map((f) =>
    join(here, '..', 'dist', 'client-test', f.slice(join(here, 'test').length + 1).replace(/\.ts$/, '.mjs')),
  ),
];
const inputs = [
  ...files(join(here, 'src')),
  ...files(join(here, 'test')),
  fileURLToPath(import.meta.url),
  join(here, '..', 'package-lock.json'),
];
if (!process.argv.includes('--force') && newest(inputs) < oldest(outputs)) process.exit(0);

/** Every file under `dir`. */
function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name));
}
/** Modification time in ms; a missing file is infinitely old as an output and infinitely new as an input. */
function mtime(file, missing) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return missing;
  }
}
function newest(list) {
  return Math.max(...list.map((f) => mtime(f, Infinity)));
}
function oldest(list) {
  return Math.min(...list.map((f) => mtime(f, -Infinity)));
}

await Promise.all([
  build({ ...browser, entryPoints: [src('index.ts')], format: 'esm', outfile: out('wiremesh-livewire.mjs') }),
  build({
    ...browser,
    entryPoints: [src('index.ts')],
    format: 'iife',
    globalName: 'WiremeshLivewire',
    minify: true,
    outfile: out('wiremesh-livewire.js'),
  }),
  build({
    ...browser,
    entryPoints: [src('shared-worker.ts')],
    format: 'iife',
    minify: true,
    outfile: out('wiremesh-shared-worker.js'),
  }),
  build({
    entryPoints: tests,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    outdir: join(here, '..', 'dist', 'client-test'),
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  }),
]);
