/**
 * Loads the uWebSockets.js binary from one of its pinned npm republications, or throws a
 * `UwsUnavailableError` saying why (not installed, no binary for this Node ABI, glibc too old,
 * binary fails to load). `select.ts` catches that and falls back to the portable `ws` transport.
 *
 * The packages' own entry points are bypassed on purpose: one of them prints a warning and
 * silently returns a slow JavaScript imitation built on `ws` when its binary does not load.
 * wiremesh wants the native binary or a clear "no", so it requires the `.node` file for this
 * platform and ABI itself. See docs/transport.md for why these packages and versions.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { UwsModule } from './uws-api.js';

export interface UwsCandidate {
  readonly package: string;
  /** Pinned exactly in package.json (optionalDependencies) with its integrity in package-lock.json. */
  readonly version: string;
  /** Node ABIs (process.versions.modules) it ships binaries for. */
  readonly abis: readonly string[];
  /** Folder of the `.node` files inside the package. */
  readonly binaries: string;
  /** Lowest glibc its Linux binaries load on (`objdump -T … | grep GLIBC_`). */
  readonly glibc: string;
}

/** Tried in this order; the first that ships this ABI and loads wins. */
export const UWS_CANDIDATES: readonly UwsCandidate[] = [
  // uWS.js v20.57.0: Node 20, 22, 24, 25. The supported path (Node 24 on Debian 13 / glibc ≥ 2.38).
  {
    package: '@btc-vision/uwebsockets.js',
    version: '20.57.0',
    abis: ['115', '127', '137', '141'],
    binaries: '',
    glibc: '2.38',
  },
  // uWS.js v20.30.0: Node 16, 18, 20 on glibc 2.27. Kept only for Node 20 on older glibc (EOL).
  {
    package: '@trufflesuite/uws-js-unofficial',
    version: '20.30.0-unofficial.0',
    abis: ['93', '108', '115'],
    binaries: 'binaries',
    glibc: '2.27',
  },
];

export class UwsUnavailableError extends Error {
  override readonly name = 'UwsUnavailableError';
}

export interface LoadedUws {
  readonly module: UwsModule;
  /** `name@version` of the package whose binary loaded. */
  readonly package: string;
  readonly binary: string;
}

function binaryName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

export function runtimeDescription(): string {
  const glibc = glibcVersion();
  return `${process.platform}-${process.arch}, Node ${process.version} (ABI ${process.versions.modules})${glibc ? `, glibc ${glibc}` : ''}`;
}

/** The running glibc (Linux), from Node's diagnostic report header; undefined elsewhere or on musl. */
export function glibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: unknown } } | undefined)?.header;
  return typeof header?.glibcVersionRuntime === 'string' ? header.glibcVersionRuntime : undefined;
}

function olderThan(have: string, need: string): boolean {
  const [a = 0, b = 0] = have.split('.').map(Number);
  const [c = 0, d = 0] = need.split('.').map(Number);
  return a < c || (a === c && b < d);
}

function label(c: UwsCandidate): string {
  return `${c.package}@${c.version}`;
}

/**
 * The candidate's directory when the pinned version is installed; a reason otherwise. Looked up
 * along Node's own search path by hand: a package's `exports` may hide its package.json.
 */
function packageDir(require: NodeJS.Require, c: UwsCandidate): string {
  const pkgJson = (require.resolve.paths(c.package) ?? [])
    .map((dir) => path.join(dir, c.package, 'package.json'))
    .find((file) => existsSync(file));
  if (pkgJson === undefined) throw new UwsUnavailableError(`optional dependency ${label(c)} is not installed`);
  const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: unknown };
  if (version !== c.version) {
    throw new UwsUnavailableError(
      `${c.package}@${String(version)} is installed but wiremesh is built and tested against ${c.version} only`,
    );
  }
  return path.dirname(pkgJson);
}

function assertModule(mod: unknown, file: string): asserts mod is UwsModule {
  const m = mod as Partial<Record<keyof UwsModule, unknown>> | null;
  for (const fn of ['App', 'us_listen_socket_close', 'us_socket_local_port'] as const) {
    if (typeof m?.[fn] !== 'function')
      throw new UwsUnavailableError(`${file} does not export ${fn}(): not a uWebSockets.js binary`);
  }
}

function loadCandidate(require: NodeJS.Require, c: UwsCandidate): LoadedUws {
  const dir = packageDir(require, c);
  const file = path.join(dir, c.binaries, binaryName());
  if (!existsSync(file)) throw new UwsUnavailableError(`${label(c)} has no ${binaryName()}`);
  const glibc = glibcVersion();
  if (glibc !== undefined && olderThan(glibc, c.glibc)) {
    throw new UwsUnavailableError(`${label(c)} needs glibc ≥ ${c.glibc}, this system has ${glibc}`);
  }
  let mod: unknown;
  try {
    mod = require(file);
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UwsUnavailableError(`${label(c)}: ${path.basename(file)} does not load: ${detail}`, { cause: err });
  }
  assertModule(mod, path.basename(file));
  return { module: mod, package: label(c), binary: file };
}

/** The first pinned native build that loads here, or a `UwsUnavailableError` naming every reason. */
export async function loadNative(candidates: readonly UwsCandidate[] = UWS_CANDIDATES): Promise<LoadedUws> {
  const require = createRequire(import.meta.url);
  const abi = process.versions.modules;
  const shipping = candidates.filter((c) => c.abis.includes(abi));
  if (shipping.length === 0) {
    const offered = candidates.map((c) => `${label(c)} ships ABIs ${c.abis.join('/')}`).join('; ');
    throw new UwsUnavailableError(`no pinned uWebSockets.js build for ${runtimeDescription()}: ${offered}`);
  }
  const reasons: string[] = [];
  for (const c of shipping) {
    try {
      return loadCandidate(require, c);
    } catch (err) {
      if (!(err instanceof UwsUnavailableError)) throw err;
      reasons.push(err.message);
    }
  }
  throw new UwsUnavailableError(`uWebSockets.js does not load on ${runtimeDescription()}: ${reasons.join('; ')}`);
}

/** The native uWebSockets.js module, or a `UwsUnavailableError` (never a crash). */
export async function loadUws(): Promise<UwsModule> {
  return (await loadNative()).module;
}
