/** wiremesh's version, from package.json (dist/src/version.js → ../../package.json). */
import { createRequire } from 'node:module';

export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/**
 * Names wiremesh and its version on the answer to a signed HTTP API call (http/router.ts), and
 * nowhere else: `wiremesh doctor` tells wiremesh from another Pusher server by it.
 */
export const VERSION_HEADER = 'x-wiremesh-version';
