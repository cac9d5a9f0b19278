/**
 * Which `fetch` calls are Livewire component updates, and so go over the socket.
 *
 * Livewire 3: `POST /livewire/update` (or the route in `data-update-uri`), header `X-Livewire: ''`.
 * Livewire 4: `POST /livewire-XXXXXXXX/update` (8 hex characters derived from the app key, an
 * optional route prefix before it), header `X-Livewire: '1'`. Both read the endpoint from the
 * `data-update-uri` attribute of their script tag (or `window.livewireScriptConfig.uri`).
 * File uploads use XMLHttpRequest and never reach `fetch`; `wire:navigate` page loads are GETs.
 */

import { parseUrl } from './url.js';

export interface RequestShape {
  /** Absolute URL of the request. */
  readonly url: URL;
  /** Upper-cased method. */
  readonly method: string;
  readonly headers: Headers;
}

/** Decides whether a request goes over the socket. */
export type RequestMatcher = (request: RequestShape) => boolean;

const V3_UPDATE_PATH = /(?:^|\/)livewire\/update$/;
const V4_UPDATE_PATH = /(?:^|\/)livewire-[0-9a-f]{8}\/update$/;

/** The update endpoint Livewire was configured with on this page, as a pathname, if any. */
export function configuredUpdatePath(): string | undefined {
  const g = globalThis as {
    document?: { querySelector?(selector: string): { getAttribute(name: string): string | null } | null };
    livewireScriptConfig?: { uri?: unknown };
    location?: { href?: string };
  };
  const fromTag = g.document?.querySelector?.('[data-update-uri]')?.getAttribute('data-update-uri');
  const uri = fromTag ?? (typeof g.livewireScriptConfig?.uri === 'string' ? g.livewireScriptConfig.uri : undefined);
  if (!uri) return undefined;
  return parseUrl(uri, g.location?.href)?.pathname;
}

/** True for a Livewire 3 or 4 update endpoint path (or the one this page configured). */
export function isLivewireUpdatePath(
  pathname: string,
  configured: string | undefined = configuredUpdatePath(),
): boolean {
  return pathname === configured || V3_UPDATE_PATH.test(pathname) || V4_UPDATE_PATH.test(pathname);
}

/**
 * The default matcher: a same-origin POST that carries an `X-Livewire` header (any value, empty
 * included) or goes to a Livewire update endpoint.
 */
export function isLivewireUpdate(request: RequestShape, origin: string | undefined = currentOrigin()): boolean {
  if (origin === undefined || request.url.origin !== origin) return false;
  if (request.method !== 'POST') return false;
  return request.headers.has('x-livewire') || isLivewireUpdatePath(request.url.pathname);
}

export function currentOrigin(): string | undefined {
  return (globalThis as { location?: { origin?: string } }).location?.origin;
}
