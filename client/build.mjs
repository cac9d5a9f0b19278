// Bundles the browser client (ESM for Vite, IIFE for a <script> tag, the optional SharedWorker)
// and its unit tests (to ../dist/client-test, where the root `npm test` finds them).
// Type checking is done before this by `tsc -p client/tsconfig.json` / `tsconfig.test.json`.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
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
