/**
 * `--env-file PATH` (start, doctor): reads a .env file into the environment as Node's own
 * `--env-file` does: a variable already set in the environment is kept, the file only adds the
 * others. The usual precedence then applies unchanged (WIREMESH_* before REVERB_* before
 * PUSHER_APP_* …, the environment before the config file).
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

/** Adds the file's variables that `env` does not set; answers the names it added. */
export function loadEnvFile(file: string, env: NodeJS.ProcessEnv): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`Cannot read env file ${file}: ${code === 'ENOENT' ? 'no such file' : String(code ?? err)}`, {
      cause: err,
    });
  }
  const added: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    added.push(name);
  }
  return added;
}
