/**
 * loadConfig: config file (JSON, or YAML when the optional `yaml` package is installed) +
 * environment variables → validateConfig → Config. The environment wins over the file.
 */
import { readFile } from 'node:fs/promises';
import { configFromEnv, envAppsMode, envSource, envSources, type EnvSource } from './env.js';
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
 * the environment and validates. Scalar settings from the environment replace the file's; apps
 * from the environment replace the file's apps only when the environment defines an app (its
 * id, key or secret, or WIREMESH_APPS_JSON). A ConfigError about a value that came from the
 * environment names the variable.
 */
export async function loadConfig(opts: {
  file?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Receives which environment variable supplied each value (for the start-up log). */
  sources?: EnvSource[];
}): Promise<Config> {
  const file = opts.file ?? (opts.env.WIREMESH_CONFIG || undefined);
  const fromFile = file === undefined ? {} : await readConfigFile(file);
  const sources = envSources(opts.env);
  const raw = overlay(fromFile, configFromEnv(opts.env), opts.env);
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

/** The file's settings with the environment's on top. */
function overlay(fromFile: Raw, fromEnv: Raw, env: NodeJS.ProcessEnv): Raw {
  const { apps: envApps, ...envSettings } = fromEnv;
  const merged = deepMerge(fromFile, envSettings);
  const apps = envAppsMode(env);
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
  return merged;
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
