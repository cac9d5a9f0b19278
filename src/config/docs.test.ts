import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ENV_VARIABLES } from './env.js';
import { appDefaults, defaults } from './schema.js';

/** Leaf keys as written in the reference: `limits.maxFrameBytes`, `cluster.redis.url`. */
function leafPaths(value: object, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, v]) => {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? leafPaths(v as object, path) : [path];
  });
}

describe('docs/configuration.md', () => {
  // dist/src/config/ → repository root.
  const doc = readFile(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

  it('describes every setting', async () => {
    const text = await doc;
    const keys = [
      ...leafPaths(defaults()),
      ...Object.keys(appDefaults()),
      'id',
      'key',
      'secret',
      'cluster.nats.user',
      'cluster.nats.token',
      'cluster.mesh.dns',
      'cluster.mesh.secret',
    ];
    const missing = keys.filter((k) => !text.includes(`\`${k}\``));
    assert.deepEqual(missing, []);
  });

  it('lists every environment variable', async () => {
    const text = await doc;
    const missing = ENV_VARIABLES.flatMap((v) => v.names).filter((name) => !text.includes(name));
    assert.deepEqual(missing, []);
  });
});
