/**
 * Chooses the WebSocket transport: `uws` (native, optional) when asked for or when `auto` finds it
 * loadable, else the portable `ws` transport. A native module that fails to load is reported once
 * in the log and never stops the server from starting (unless `uws` was demanded explicitly).
 */
import type { TransportKind } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Transport, TransportOptions } from './types.js';
import { WsTransport } from './ws.js';

export async function createTransport(
  kind: TransportKind,
  options: TransportOptions,
  logger: Logger,
): Promise<Transport> {
  if (kind === 'uws' || kind === 'auto') {
    try {
      const { loadNative, UwsTransport } = await import('./uws.js');
      const native = await loadNative();
      logger.info('using the native uWebSockets.js transport', { package: native.package });
      return new UwsTransport(native.module, options, logger);
    } catch (err) {
      if (kind === 'uws')
        throw new Error('transport "uws" was requested but uWebSockets.js could not be loaded', { cause: err });
      logger.info('native uWebSockets.js transport not available; using the portable ws transport', {
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return new WsTransport(options, logger);
}

/**
 * Whether `createTransport(kind)` will pick the portable `ws` transport here: asked for, or `auto`
 * and the native build does not load. (`uws` demanded and missing fails in `createTransport`.)
 */
export async function choosesWs(kind: TransportKind): Promise<boolean> {
  if (kind === 'ws') return true;
  if (kind === 'uws') return false;
  try {
    const { loadNative } = await import('./uws-load.js');
    await loadNative();
    return false;
  } catch {
    return true;
  }
}
