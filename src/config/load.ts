/**
 * loadConfig: config file (JSON, or YAML when the optional `yaml` package is installed) +
 * environment variables → validateConfig → Config. The environment wins over the file.
 */
import { readFile } from 'node:fs/promises';
import { APPS_JSON, configFromEnv, envAppsMode, envSource, envSources, lookup, type EnvSource } from './env.js';
import { applyLaravelEnv } from './env-laravel.js';
import { applyPlatformEnv } from './env-platform.js';
import { ConfigError } from './errors.js';
import { isPlainObject } from './fields.js';
import type { Raw } from './fields.js';
import { parseJson } from './json.js';
import { DEFAULT_APP } from './schema.js';
import type { Config } from './schema.js';
import { validateConfig } from './validate.js';

/**
 * Reads `opts.file` (or the file named by WIREMESH_CONFIG; no file at all is fine), overlays
 * the environment and validates. Scalar settings from the environment replace the file's; an app
 * the environment defines lands on the matching app of the file (overlay, below), and
 * WIREMESH_APPS_JSON replaces the file's apps. A ConfigError about a value that came from the
 * environment names the variable.
 */
export async function loadConfig(opts: {
  file?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Receives which environment variable supplied each value (for the start-up log). */
  sources?: EnvSource[];
  /** Receives how the environment's app and the file's apps were combined (start-up log, doctor). */
  notes?: string[];
}): Promise<Config> {
  const file = opts.file ?? (opts.env.WIREMESH_CONFIG || undefined);
  const fromFile = file === undefined ? {} : await readConfigFile(file);
  let sources = envSources(opts.env);
  const { raw, into } = overlay(fromFile, configFromEnv(opts.env), opts.env, file ?? '');
  if (into !== undefined) {
    // The environment's app landed on the file's app `into.index`: its sources name that app.
    sources = sources.map((x) =>
      x.path.startsWith('apps[0]') ? { ...x, path: `apps[${into.index}]${x.path.slice(7)}` } : x,
    );
    opts.notes?.push(into.note);
  }
  applyPlatformEnv(raw, opts.env, sources);
  applyLaravelEnv(raw, opts.env, sources);
  opts.sources?.push(...sources);
  try {
    return validateConfig(raw);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const derived = sources.find((s) => err.path === s.path || err.path.startsWith(`${s.path}[`));
    const source = envSource(err.path, opts.env) ?? (derived && `set by environment variable ${derived.name}`);
    if (source === undefined) throw err;
    throw new ConfigError(err.path, `${err.message} (${source})`, { cause: err });
  }
}

async function readConfigFile(file: string): Promise<Raw> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, `Cannot read config file ${file}: ${readFailure(err)}`, { cause: err });
  }
  const value = /\.ya?ml$/i.test(file) ? await parseYaml(file, text) : parseJsonFile(file, text);
  if (!isPlainObject(value)) {
    throw new ConfigError(file, `Invalid config file ${file}: the top level must be an object of settings`);
  }
  return value;
}

function parseJsonFile(file: string, text: string): unknown {
  const parsed = parseJson(text);
  if (!parsed.ok) throw new ConfigError(file, `Invalid config file ${file}: ${parsed.error}`, { cause: parsed.cause });
  return parsed.value;
}

async function parseYaml(file: string, text: string): Promise<unknown> {
  let yaml: { parse(source: string): unknown };
  try {
    // A variable specifier: `yaml` is optional and not a dependency of wiremesh.
    const specifier = 'yaml';
    yaml = (await import(specifier)) as typeof yaml;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new ConfigError(
      file,
      `Cannot read config file ${file}: YAML needs the optional "yaml" package (npm install yaml); or use a JSON config file`,
      { cause: err },
    );
  }
  try {
    return yaml.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(file, `Invalid config file ${file}: ${message}`, { cause: err });
  }
}

function readFailure(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return err instanceof Error ? err.message : String(err);
}

/**
 * The file's settings with the environment's on top. An app the environment defines by variables
 * (PUSHER_APP_ID/KEY/SECRET of a Laravel .env, …) next to a file with apps is one of the file's
 * apps: the only one, else the one with the same id, else the one with the same key. Its id, key,
 * secret and other variables take the environment's values; the rest of it (livewire, fragments,
 * webhooks, clientEvents) stays the file's. When none matches it is an error naming both sources.
 * WIREMESH_APPS_JSON replaces the file's apps.
 */
function overlay(
  fromFile: Raw,
  fromEnv: Raw,
  env: NodeJS.ProcessEnv,
  file: string,
): { raw: Raw; into?: { index: number; note: string } } {
  const { apps: envApps, ...envSettings } = fromEnv;
  const merged = deepMerge(fromFile, envSettings);
  const apps = envAppsMode(env);
  const fileApps = Array.isArray(fromFile.apps) && fromFile.apps.length > 0 ? fromFile.apps : undefined;
  if (apps?.mode === 'replace' && lookup(env, [APPS_JSON]) === undefined && fileApps !== undefined) {
    const [envApp] = envApps as Raw[];
    const index = matchingApp(fileApps, envApp!);
    const variables = envSources(env)
      .filter((x) => x.path.startsWith('apps[0]'))
      .map((x) => x.name);
    if (index === -1) {
      throw new ConfigError(
        variables[0] ?? 'apps',
        `Invalid environment: ${variables.join(', ')} define an app (id ${show(envApp!.id)}, key ${show(envApp!.key)}) ` +
          `that is none of the ${fileApps.length} apps of ${file} (ids ${fileApps.map((a) => show(isPlainObject(a) ? a.id : undefined)).join(', ')}): ` +
          "give that app the environment's id or key in the file, unset those variables, or set WIREMESH_APPS_JSON to replace the file's apps",
      );
    }
    const target = fileApps[index] as Raw;
    merged.apps = fileApps.map((app, i) => (i === index ? { ...target, ...envApp } : app));
    const changed = ['id', 'key', 'secret'].filter((k) => envApp![k] !== undefined && envApp![k] !== target[k]);
    const note =
      `apps[${index}] (id ${show(target.id)}) of ${file} takes ${Object.keys(envApp!).join(', ')} from the environment ` +
      `(${variables.join(', ')})${changed.length > 0 ? `, which differ from the file's ${changed.join(', ')}` : ''}; ` +
      "its other settings are the file's";
    return { raw: merged, into: { index, note } };
  }
  if (apps?.mode === 'replace') {
    merged.apps = envApps;
  } else if (apps?.mode === 'settings') {
    if (fromFile.apps !== undefined && !(Array.isArray(fromFile.apps) && fromFile.apps.length === 0)) {
      const [first] = apps.variables;
      throw new ConfigError(
        first!,
        `Invalid environment: ${apps.variables.join(', ')} ${apps.variables.length === 1 ? 'is' : 'are'} set, but the ` +
          'config file defines the apps and the environment defines none: set WIREMESH_APP_ID, WIREMESH_APP_KEY and ' +
          'WIREMESH_APP_SECRET (or REVERB_APP_*, PUSHER_APP_*) to replace the apps of the file, or move the setting into the file',
      );
    }
    const [settings] = envApps as Raw[];
    merged.apps = [{ ...DEFAULT_APP, ...settings }];
  }
  return { raw: merged };
}

/** The file app the environment's app is: the only one, else the same id, else the same key; -1 when none. */
function matchingApp(fileApps: unknown[], envApp: Raw): number {
  if (fileApps.length === 1) return 0;
  for (const field of ['id', 'key']) {
    if (envApp[field] === undefined) continue;
    const i = fileApps.findIndex((app) => isPlainObject(app) && app[field] === envApp[field]);
    if (i !== -1) return i;
  }
  return -1;
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : String(value);
}

/** Objects merge key by key; anything else from `top` replaces `base` (arrays included). */
function deepMerge(base: Raw, top: Raw): Raw {
  const out: Raw = { ...base };
  for (const [key, value] of Object.entries(top)) {
    const under = base[key];
    if (!isPlainObject(value) || under === undefined) out[key] = value;
    else if (isPlainObject(under)) out[key] = deepMerge(under, value);
    // else: the file's value has the wrong type; keep it so that validation reports it.
  }
  return out;
}
