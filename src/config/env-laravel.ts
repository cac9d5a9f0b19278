/**
 * The Laravel app key from the environment, for the Livewire tunnel's cookie comparison
 * (`livewire.laravelKey`, `livewire.laravelPreviousKeys`): `WIREMESH_LARAVEL_KEY` and
 * `WIREMESH_LARAVEL_PREVIOUS_KEYS` replace the file's; Laravel's own `APP_KEY` and
 * `APP_PREVIOUS_KEYS` (the app's .env exported into wiremesh's environment) fill them in when the
 * file sets none. Either goes to the one app with a `livewire` section: with several, each app
 * names its own key in the file (a WIREMESH_ variable is then refused; Laravel's are left alone).
 * Each value taken is reported as an EnvSource (names only: the key is a secret).
 */
import { ConfigError } from './errors.js';
import { isPlainObject, join, type Raw } from './fields.js';
import { lookup, parse, type EnvSource } from './env.js';

const LARAVEL_KEY_VARIABLES = {
  key: ['WIREMESH_LARAVEL_KEY', 'APP_KEY'],
  previous: ['WIREMESH_LARAVEL_PREVIOUS_KEYS', 'APP_PREVIOUS_KEYS'],
} as const;

export function applyLaravelEnv(merged: Raw, env: NodeJS.ProcessEnv, sources: EnvSource[]): void {
  const key = lookup(env, LARAVEL_KEY_VARIABLES.key);
  const previous = lookup(env, LARAVEL_KEY_VARIABLES.previous);
  if (key === undefined && previous === undefined) return;
  const apps = Array.isArray(merged.apps) ? merged.apps : [];
  const tunnels = apps.flatMap((app: unknown, i) =>
    isPlainObject(app) && isPlainObject(app.livewire)
      ? [{ livewire: app.livewire, path: join(join('apps', i), 'livewire') }]
      : [],
  );
  const ours = [key, previous].find((found) => found?.name.startsWith('WIREMESH_'));
  if (tunnels.length !== 1) {
    if (ours === undefined || tunnels.length === 0) return;
    throw new ConfigError(
      ours.name,
      `Invalid environment: ${ours.name} is set, but ${tunnels.length} apps have a livewire section: ` +
        'set livewire.laravelKey (and laravelPreviousKeys) in each app of the config file instead',
    );
  }
  const [{ livewire, path }] = tunnels as [{ livewire: Raw; path: string }];
  const take = (field: string, found: { name: string; value: string }, value: unknown): void => {
    if (livewire[field] !== undefined && !found.name.startsWith('WIREMESH_')) return;
    livewire[field] = value;
    sources.push({ path: join(path, field), name: found.name });
  };
  if (key) take('laravelKey', key, key.value);
  if (previous) take('laravelPreviousKeys', previous, parse(previous.name, previous.value, 'list'));
}
