/**
 * V8 flags `wiremesh start` adds on the portable `ws` transport (Node 22/24 where the native
 * build does not load). V8 reads both only when the isolate starts: `v8.setFlagsFromString` is
 * too late for them (docs/transport.md, "V8 flags on the ws transport").
 * - `--no-concurrent-recompilation`: ~10 MiB of a node's RSS after a connect burst is memory of
 *   V8's background JIT compiles, freed by V8 but kept by the glibc arenas of the compiler
 *   threads; compiling on the main thread instead, that memory goes away.
 * - `--min-semi-space-size=4`: the young generation starts at 2 × 4 MiB instead of 2 × 1 MiB and
 *   stays there (the transport stops its growth, ws-heap.ts). A connect burst then scavenges a
 *   quarter as often; each scavenge copies the same survivors, so CPU per connect fell by ~12 %
 *   for ~6 MiB more RSS, paid once at start (bench/RESULTS.md).
 *
 * So `wiremesh start` on the `ws` transport replaces its own process image with the same command
 * plus the flags it lacks (`process.execve`, Node ≥ 22.15): the PID stays, so PID 1 in a
 * container, a supervisor's child or a systemd unit keep their signals and their drain. Workers
 * forked by the supervisor inherit the flags through `process.execArgv`. Nothing happens on the
 * native transport, when every flag is already given (a semi-space size the operator chose
 * counts as given), or when `WIREMESH_REEXEC` is set (to anything: the re-executed process sets
 * it to `1` itself, so this can never loop; `WIREMESH_REEXEC=off` keeps the process as started).
 */
export const SERIAL_JIT_FLAG = '--no-concurrent-recompilation';
export const YOUNG_GENERATION_FLAG = '--min-semi-space-size=4';
/** What `wiremesh start` adds on the `ws` transport, in this order. */
export const WS_V8_FLAGS = [SERIAL_JIT_FLAG, YOUNG_GENERATION_FLAG] as const;
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

export type WsFlagsPlan =
  | { readonly action: 'exec'; readonly file: string; readonly args: string[]; readonly env: NodeJS.ProcessEnv }
  | { readonly action: 'none'; readonly why: 'native transport' | 'already set' | 'opted out' }
  | { readonly action: 'unsupported'; readonly missing: string[] };

/** `given` sets what `flag` sets (any `--min-semi-space-size=` counts as the second flag). */
function sets(given: string, flag: string): boolean {
  return given === flag || given.startsWith(`${flag.split('=')[0]!}=`);
}

/** The flags of `WS_V8_FLAGS` that `execArgv` lacks. */
export function missingWsFlags(execArgv: readonly string[]): string[] {
  return WS_V8_FLAGS.filter((flag) => !execArgv.some((given) => sets(given, flag)));
}

/** The entries of `execArgv` that set what `WS_V8_FLAGS` sets, as given. */
export function givenWsFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((given) => WS_V8_FLAGS.some((flag) => sets(given, flag)));
}

/** What to do for a process that will (or will not) serve on the `ws` transport. Pure. */
export function wsFlagsPlan(usesWs: boolean, image: ProcessImage): WsFlagsPlan {
  if (!usesWs) return { action: 'none', why: 'native transport' };
  const missing = missingWsFlags(image.execArgv);
  if (missing.length === 0) return { action: 'none', why: 'already set' };
  if (image.env[REEXEC_ENV] !== undefined) return { action: 'none', why: 'opted out' };
  if (!image.canExec) return { action: 'unsupported', missing };
  return {
    action: 'exec',
    file: image.execPath,
    args: [image.execPath, ...missing, ...image.execArgv, ...image.argv.slice(1)],
    env: { ...image.env, [REEXEC_ENV]: '1' },
  };
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/** This process as `wsFlagsPlan` sees it. */
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
export function execPlan(plan: Extract<WsFlagsPlan, { action: 'exec' }>): never {
  return (process as unknown as { execve: Execve }).execve(plan.file, plan.args, plan.env);
}

/** One clause for `wiremesh doctor` on what `wiremesh start` will do on the `ws` transport. */
export function wsFlagsNote(image: ProcessImage = currentImage()): string {
  const plan = wsFlagsPlan(true, image);
  const missing = missingWsFlags(image.execArgv).join(' ');
  if (plan.action === 'exec') return `wiremesh start adds ${missing} (re-exec, same PID)`;
  if (plan.action === 'unsupported') return `no process.execve here (Node < 22.15): start node with ${missing}`;
  return plan.why === 'opted out' ? `${REEXEC_ENV} is set: runs without ${missing}` : `runs with its V8 flags`;
}
