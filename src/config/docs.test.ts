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

describe("README.md's Laravel .env blocks", () => {
  const readme = readFile(new URL('../../../README.md', import.meta.url), 'utf8');

  /** Each `dotenv` block of the Laravel section as one environment per column (left of `#`, and the commented right column when it holds assignments). */
  async function environments(): Promise<Record<string, string>[]> {
    const text = await readme;
    const blocks = [...text.matchAll(/```dotenv\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(blocks.length >= 2, 'the Pusher-style and the Reverb-style blocks');
    const envs: Record<string, string>[] = [];
    for (const block of blocks) {
      const left: Record<string, string> = {};
      const right: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const [code = '', comment = ''] = line.split(/\s+#\s*/, 2);
        for (const [part, into] of [
          [code, left],
          [comment, right],
        ] as const) {
          const m = /^([A-Z][A-Z0-9_]*)=("?)([^"\s]*)\2/.exec(part.trim());
          if (m) into[m[1]!] = m[3]!;
        }
      }
      envs.push(left);
      if (Object.keys(right).length > 3) envs.push(right);
    }
    return envs;
  }

  it('each column starts wiremesh as written (no default credentials on a public address)', async () => {
    const { loadConfig } = await import('./load.js');
    for (const env of await environments()) {
      const config = await loadConfig({ env });
      assert.notEqual(config.apps[0]!.key, 'app-key', JSON.stringify(env));
    }
  });
});
