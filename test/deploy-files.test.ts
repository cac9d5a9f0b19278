/**
 * The deploy files start as shipped: each one's environment is rendered as its platform would
 * (the k8s Deployment's `env` and `envFrom` secret, fly.toml's `[env]` plus what Fly injects and
 * the secrets its header sets) and run through `wiremesh doctor` (the real CLI), whose config
 * check must pass; the resulting config is read back to check what the files promise: /metrics
 * never on the public port (or only with a token), the mesh port only between wiremesh's pods.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { parseAllDocuments } from 'yaml';
import { ENV_VARIABLES } from '../src/config/env.js';
import { loadConfig } from '../src/config/load.js';
import { runCli } from './helpers/api-process.js';

// dist/test/ → repository root.
const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Names a header comment tells the operator to set as secrets (`NAME=…` after `command`). */
function secretNames(text: string, command: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('#') && l.includes(command));
  assert.ok(start >= 0, `the header shows ${command}`);
  const names: string[] = [];
  for (let i = start; i < lines.length && lines[i]!.startsWith('#'); i++) {
    for (const m of lines[i]!.matchAll(/([A-Z][A-Z0-9_]+)=/g)) names.push(m[1]!);
    if (!lines[i]!.trimEnd().endsWith('\\')) break;
  }
  return names;
}

/** A value for each secret, as an operator would set it. */
function secretValue(name: string): string {
  if (name.endsWith('_APP_ID')) return '123456';
  if (name.endsWith('_APP_KEY')) return randomBytes(10).toString('hex');
  return randomBytes(32).toString('hex');
}

const KNOWN = new Set(ENV_VARIABLES.flatMap((v) => v.names));
const PLATFORM = new Set(['FLY_APP_NAME', 'FLY_MACHINE_ID', 'FLY_REGION']);

function onlyKnownNames(env: Record<string, string>): void {
  const unknown = Object.keys(env).filter((n) => !KNOWN.has(n) && !PLATFORM.has(n));
  assert.deepEqual(unknown, [], 'every variable is one wiremesh reads');
}

/** `wiremesh doctor` with exactly `env`: its config line must say valid. */
async function doctorAccepts(env: Record<string, string>, cluster: string): Promise<void> {
  const proc = runCli(['doctor', '--server', 'http://127.0.0.1:1'], env);
  await proc.exited;
  const lines = proc.stdout().trim().split('\n');
  assert.ok(
    lines.some((l) => new RegExp(`^ok +config: valid; 1 app\\(s\\), cluster ${cluster}`).test(l)),
    `doctor's config check:\n${lines.join('\n')}\n${proc.stderr()}`,
  );
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

describe('deploy/k8s/wiremesh.yaml', () => {
  const text = read('deploy/k8s/wiremesh.yaml');
  const docs = parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> };
  });
  const kind = (k: string) => docs.filter((d) => d.kind === k);
  // What the kubelet fills in for a pod.
  const fields: Record<string, string> = {
    'metadata.name': 'wiremesh-6d8f9c7b5-x2x9q',
    'spec.nodeName': 'node-eu-1',
    'status.podIP': '10.244.1.17',
  };

  function rendered(): Record<string, string> {
    const deployment = kind('Deployment')[0]!;
    const pod = (deployment.spec.template as { spec: { containers: Array<Record<string, unknown>> } }).spec;
    const container = pod.containers[0]!;
    const env: Record<string, string> = {};
    for (const from of container.envFrom as Array<{ secretRef?: { name: string } }>) {
      assert.equal(from.secretRef?.name, 'wiremesh', 'the secret the header creates');
      for (const name of secretNames(text, 'kubectl create secret generic wiremesh')) env[name] = secretValue(name);
    }
    // Explicit env entries take precedence over envFrom, as in Kubernetes.
    for (const v of container.env as EnvVar[]) {
      if (v.value !== undefined) env[v.name] = String(v.value);
      else {
        const path = v.valueFrom?.fieldRef?.fieldPath;
        assert.ok(path !== undefined && fields[path] !== undefined, `${v.name}: a field the test knows`);
        env[v.name] = fields[path];
      }
    }
    return env;
  }

  it("starts as shipped: the Deployment's environment passes wiremesh doctor's config check", async () => {
    const env = rendered();
    onlyKnownNames(env);
    await doctorAccepts(env, 'mesh');
    const config = await loadConfig({ env });
    assert.equal(config.cluster.mesh.host, fields['status.podIP'], 'the mesh listens on the pod address');
    assert.equal(config.cluster.mesh.dns, 'wiremesh-peers');
  });

  it('/metrics only on its own port, with a token; that port and the mesh are not in the client Service', async () => {
    const config = await loadConfig({ env: rendered() });
    assert.notEqual(config.metricsPort, 0, '/metrics is not served on the client port');
    assert.notEqual(config.metricsToken, '', 'a bearer token is required');
    const client = kind('Service').find((s) => s.metadata.name === 'wiremesh')!;
    const ports = (client.spec.ports as Array<{ port: number }>).map((p) => p.port);
    assert.deepEqual(ports, [config.port]);
  });

  it('a NetworkPolicy lets only wiremesh pods reach the mesh port', () => {
    const [policy] = kind('NetworkPolicy') as Array<{ spec: Record<string, unknown> }>;
    assert.ok(policy, 'a NetworkPolicy');
    const selector = { matchLabels: { 'app.kubernetes.io/name': 'wiremesh' } };
    assert.deepEqual(policy.spec.podSelector, selector);
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
    const rules = policy.spec.ingress as Array<{ from?: unknown[]; ports: Array<{ port: string }> }>;
    const mesh = rules.filter((r) => r.ports.some((p) => p.port === 'mesh'));
    assert.equal(mesh.length, 1);
    assert.deepEqual(mesh[0]!.from, [{ podSelector: selector }]);
  });
});

describe('deploy/fly/fly.toml', () => {
  const text = read('deploy/fly/fly.toml');
  const toml = parseToml(text) as {
    app: string;
    primary_region: string;
    env: Record<string, string>;
    http_service: { internal_port: number };
    metrics?: { port: number; path: string };
  };

  function rendered(): Record<string, string> {
    const env: Record<string, string> = { ...toml.env };
    for (const name of secretNames(text, 'fly secrets set')) env[name] = secretValue(name);
    // What Fly sets on every Machine.
    return { ...env, FLY_APP_NAME: toml.app, FLY_MACHINE_ID: '3d8d9934a55089', FLY_REGION: toml.primary_region };
  }

  it('starts as shipped: [env], the secrets and what Fly sets pass wiremesh doctor’s config check', async () => {
    const env = rendered();
    onlyKnownNames(env);
    await doctorAccepts(env, 'mesh');
    const config = await loadConfig({ env });
    assert.equal(config.cluster.mesh.dns, `${toml.app}.internal`);
  });

  it('/metrics is not served on the public port; Fly scrapes it on its own port', async () => {
    const config = await loadConfig({ env: rendered() });
    assert.equal(toml.http_service.internal_port, config.port);
    assert.ok(
      config.metricsPort !== 0 && config.metricsPort !== config.port,
      '/metrics answers 404 on the public port',
    );
    assert.equal(toml.metrics?.port, config.metricsPort, "Fly's scraper asks the metrics port");
  });
});

describe('deploy/fly/laravel (wiremesh under supervisord in the Laravel app)', () => {
  const text = read('deploy/fly/laravel/supervisor/conf.d/wiremesh.conf');

  it("starts as shipped: supervisord's environment, the app's secrets and what Fly sets pass wiremesh doctor’s config check", async () => {
    const line = text.split('\n').find((l) => l.startsWith('environment='));
    assert.ok(line, 'an environment= line');
    const env: Record<string, string> = {};
    for (const m of line.slice('environment='.length).matchAll(/([A-Z][A-Z0-9_]*)="([^"]*)"/g)) env[m[1]!] = m[2]!;
    // The app's Fly secrets, as the header names them, and what Fly sets on every Machine.
    for (const name of ['PUSHER_APP_ID', 'PUSHER_APP_KEY', 'PUSHER_APP_SECRET', 'WIREMESH_MESH_SECRET'])
      env[name] = secretValue(name);
    Object.assign(env, { FLY_APP_NAME: 'my-laravel', FLY_MACHINE_ID: '3d8d9934a55089', FLY_REGION: 'fra' });
    onlyKnownNames(env);
    await doctorAccepts(env, 'mesh');
    const config = await loadConfig({ env });
    assert.equal(config.host, '127.0.0.1', 'only nginx reaches it');
    assert.equal(config.cluster.mesh.dns, 'my-laravel.internal');
  });
});
