// The import rules of wiremesh, checked by `npm run lint:deps` (dependency-cruiser): no cycle, and
// no import from a lower layer into a higher one. Type-only imports count: a module that names a
// higher layer's types knows that layer. Tests (`*.test.ts`, `*.test.helper.ts`) may reach across
// layers to set up what they test, but they take part in the cycle check.

/** The layers, top to bottom; each imports only from its own layer and the layers below it. */
const layers = [
  { name: 'entry', paths: ['src/cli/', 'src/cli\\.ts$', 'src/index\\.ts$'] },
  { name: 'composition', paths: ['src/server\\.ts$', 'src/stop\\.ts$'] },
  {
    name: 'features',
    paths: ['src/livewire/', 'src/fragments/', 'src/history/', 'src/http/', 'src/dashboard/', 'src/workers/'],
  },
  { name: 'core', paths: ['src/core/'] },
  { name: 'presence', paths: ['src/presence/'] },
  { name: 'cluster', paths: ['src/cluster/'] },
  {
    name: 'infrastructure',
    paths: [
      'src/transport/',
      'src/protocol/',
      'src/config/',
      'src/limits/',
      'src/metrics/',
      'src/apps/',
      'src/webhooks/',
      'src/upstreams/',
    ],
  },
  { name: 'base', paths: ['src/log/', 'src/errors\\.ts$', 'src/version\\.ts$'] },
];

/** Why each layer must not look up; printed with each violation. */
const why = {
  composition: 'src/server.ts builds the parts; a part that imports it would be handed the whole server.',
  features: 'Features are built by the composition root and given what they need.',
  core:
    'The core delivers to its own sockets through ports it declares; history, Livewire and fragments ' +
    'implement or use those ports from above.',
  presence: 'Presence is replicated state below the core; it knows neither the core nor history.',
  cluster:
    'The cluster carries bodies it does not understand; presence, history, fragments and the core ' +
    'register their own handlers with it, never the other way round.',
  infrastructure:
    "Transport, protocol, config, limits, metrics, apps, webhooks and the apps' upstream (Laravel) servers serve the layers above.",
  base: 'Logging, errors and the version are imported by everyone and import no one.',
};

const anyOf = (paths) => `^(${paths.join('|')})`;
const tests = '\\.test(\\.helper)?\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle makes two modules one: neither can be understood, built or tested alone.',
      severity: 'error',
      from: { path: '^(src|client/src)/' },
      to: { circular: true },
    },
    {
      name: 'product-imports-tests',
      comment: 'The shipped code never loads a test or its helpers.',
      severity: 'error',
      from: { path: '^(src|client/src)/', pathNot: tests },
      to: { path: `^(test|client/test)/|${tests}` },
    },
    ...layers.slice(1).map((layer, i) => ({
      name: `${layer.name}-imports-above`,
      comment: why[layer.name],
      severity: 'error',
      from: { path: anyOf(layer.paths), pathNot: tests },
      to: { path: anyOf(layers.slice(0, i + 1).flatMap((above) => above.paths)) },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|client/dist|test/fixtures)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
