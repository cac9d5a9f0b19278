/**
 * Loads the uWebSockets.js binary from its npm republication, or throws a `UwsUnavailableError`
 * saying why (not installed, no binary for this Node ABI, binary fails to load). `select.ts`
 * catches that and falls back to the portable `ws` transport.
 *
 * The package's own entry point is bypassed on purpose: when its binary does not load it prints a
 * warning and silently returns a slow JavaScript imitation built on `ws`. wiremesh wants the
 * native binary or a clear "no", so it requires the `.node` file for this platform and ABI itself.
 * See docs/transport.md for why this package and version.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { UwsModule } from './uws-api.js';

export const UWS_PACKAGE = '@trufflesuite/uws-js-unofficial';
/** Pinned exactly in package.json; the API in uws-api.ts was checked against this build. */
export const UWS_VERSION = '20.30.0-unofficial.0';
/** Node ABIs (process.versions.modules) the pinned version ships binaries for: Node 16, 18, 20. */
export const UWS_ABIS = ['93', '108', '115'] as const;

export class UwsUnavailableError extends Error {
  override readonly name = 'UwsUnavailableError';
}

function binaryName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

function where(): string {
  return `${process.platform}-${process.arch}, Node ${process.version} (ABI ${process.versions.modules})`;
}

/** Resolves the package's directory next to this file, as Node would for an import. */
function packageDir(require: NodeJS.Require): string {
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${UWS_PACKAGE}/package.json`);
  } catch (err) {
    throw new UwsUnavailableError(
      `uWebSockets.js is not installed: optional dependency ${UWS_PACKAGE}@${UWS_VERSION} is missing`,
      { cause: err },
    );
  }
  const { version } = require(pkgJson) as { version?: unknown };
  if (version !== UWS_VERSION) {
    throw new UwsUnavailableError(
      `${UWS_PACKAGE}@${String(version)} is installed but wiremesh is built and tested against ${UWS_VERSION} only`,
    );
  }
  return path.dirname(pkgJson);
}

function assertModule(mod: unknown, file: string): asserts mod is UwsModule {
  const m = mod as Partial<Record<keyof UwsModule, unknown>> | null;
  for (const fn of ['App', 'us_listen_socket_close', 'us_socket_local_port'] as const) {
    if (typeof m?.[fn] !== 'function') throw new UwsUnavailableError(`${file} does not export ${fn}(): not a uWebSockets.js binary`);
  }
}

/** The native uWebSockets.js module, or a `UwsUnavailableError` (never a crash). */
export async function loadUws(): Promise<UwsModule> {
  const require = createRequire(import.meta.url);
  const dir = packageDir(require);
  const file = path.join(dir, 'binaries', binaryName());
  if (!existsSync(file)) {
    throw new UwsUnavailableError(
      `${UWS_PACKAGE}@${UWS_VERSION} has no binary for ${where()}; it ships Node ABIs ${UWS_ABIS.join('/')} (Node 16/18/20) only`,
    );
  }
  let mod: unknown;
  try {
    mod = require(file);
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UwsUnavailableError(`uWebSockets.js binary ${path.basename(file)} does not load on ${where()}: ${detail}`, {
      cause: err,
    });
  }
  assertModule(mod, path.basename(file));
  return mod;
}
