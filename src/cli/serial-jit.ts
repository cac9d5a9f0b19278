/**
 * On the portable `ws` transport (Node 22/24 where the native build does not load), ~10 MiB of a
 * node's RSS after a connect burst is memory of V8's background JIT compiles, freed by V8 but
 * kept by the glibc arenas of the compiler threads (docs/transport.md, "Memory per connection").
 * `node --no-concurrent-recompilation` compiles on the main thread instead and that memory goes
 * away, but V8 reads the flag only when the isolate starts: `v8.setFlagsFromString` is too late.
 *
 * So `wiremesh start` on the `ws` transport replaces its own process image with the same command
 * plus the flag (`process.execve`, Node ≥ 22.15): the PID stays, so PID 1 in a container, a
 * supervisor's child or a systemd unit keep their signals and their drain. Workers forked by the
 * supervisor inherit the flag through `process.execArgv`. Nothing happens on the native
 * transport, when the flag is already given, or when `WIREMESH_REEXEC` is set (to anything: the
 * re-executed process sets it to `1` itself, so this can never loop; `WIREMESH_REEXEC=off` keeps
 * the process as started).
 */
export const SERIAL_JIT_FLAG = '--no-concurrent-recompilation';
export const REEXEC_ENV = 'WIREMESH_REEXEC';

export interface ProcessImage {
  readonly execPath: string;
  readonly execArgv: readonly string[];
  /** `process.argv`: [node, script, ...arguments]. */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** `process.execve` exists (Node ≥ 22.15 / 23.11). */
  readonly canExec: boolean;
}

export type SerialJitPlan =
  | { readonly action: 'exec'; readonly file: string; readonly args: string[]; readonly env: NodeJS.ProcessEnv }
  | { readonly action: 'none'; readonly why: 'native transport' | 'already serial' | 'opted out' }
  | { readonly action: 'unsupported' };

/** What to do for a process that will (or will not) serve on the `ws` transport. Pure. */
export function serialJitPlan(usesWs: boolean, image: ProcessImage): SerialJitPlan {
  if (!usesWs) return { action: 'none', why: 'native transport' };
  if (image.execArgv.includes(SERIAL_JIT_FLAG)) return { action: 'none', why: 'already serial' };
  if (image.env[REEXEC_ENV] !== undefined) return { action: 'none', why: 'opted out' };
  if (!image.canExec) return { action: 'unsupported' };
  return {
    action: 'exec',
    file: image.execPath,
    args: [image.execPath, SERIAL_JIT_FLAG, ...image.execArgv, ...image.argv.slice(1)],
    env: { ...image.env, [REEXEC_ENV]: '1' },
  };
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/** This process as `serialJitPlan` sees it. */
export function currentImage(): ProcessImage {
  return {
    execPath: process.execPath,
    execArgv: process.execArgv,
    argv: process.argv,
    env: process.env,
    canExec: typeof (process as { execve?: Execve }).execve === 'function',
  };
}

/** Carries out an `exec` plan: does not return. */
export function execPlan(plan: Extract<SerialJitPlan, { action: 'exec' }>): never {
  return (process as unknown as { execve: Execve }).execve(plan.file, plan.args, plan.env);
}

/** One clause for `wiremesh doctor` on what `wiremesh start` will do on the `ws` transport. */
export function serialJitNote(image: ProcessImage = currentImage()): string {
  const plan = serialJitPlan(true, image);
  if (plan.action === 'exec') return `wiremesh start adds ${SERIAL_JIT_FLAG} (re-exec, same PID)`;
  if (plan.action === 'unsupported') return `no process.execve here (Node < 22.15): start node with ${SERIAL_JIT_FLAG}`;
  return plan.why === 'opted out'
    ? `${REEXEC_ENV} is set: runs without ${SERIAL_JIT_FLAG}`
    : `runs with ${SERIAL_JIT_FLAG}`;
}
