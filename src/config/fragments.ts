/**
 * Validation of `apps[].fragments`, the shared fragments of one app (docs/fragments.md). Absent:
 * fragments are off for that app. Present: renders go to the app's Livewire upstreams (the rule
 * that `livewire` must be set too is checked with the app, config/apps.ts).
 */
import { fragmentsDefaults } from './schema.js';
import type { FragmentsConfig } from './schema.js';
import { invalid, join, Section } from './fields.js';

const KEYS = Object.keys(fragmentsDefaults()) as Array<keyof FragmentsConfig>;

/** A fragment name, as pages write it in `data-wiremesh-fragment` (also a URL path segment). */
export const FRAGMENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const PATH = /^\/[!$&'()*+,\-./0-9:;=@A-Z_a-z~]*$/;

export function readFragments(raw: unknown, path: string): FragmentsConfig {
  const d = fragmentsDefaults();
  const s = Section.open(raw ?? {}, path, KEYS);
  const names = s.list('names', d.names, (value, at) => {
    if (typeof value !== 'string' || !FRAGMENT_NAME.test(value)) {
      throw invalid(at, 'must be a fragment name: 1–64 characters A-Z a-z 0-9 _ - . :', value);
    }
    return value;
  });
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) throw invalid(join(s.at('names'), i), 'is listed twice', name);
  });
  const config: FragmentsConfig = {
    path: s.string('path', d.path, { pattern: PATH, describe: "a path starting with '/' (without query)" }),
    names,
    windowMs: s.int('windowMs', d.windowMs, 0, 60_000),
    intervalMs: s.int('intervalMs', d.intervalMs, 0),
    timeoutMs: s.int('timeoutMs', d.timeoutMs, 1, 120_000),
    maxHtmlBytes: s.int('maxHtmlBytes', d.maxHtmlBytes, 1, 16 * 1024 * 1024),
    maxPerConnection: s.int('maxPerConnection', d.maxPerConnection, 1),
    maxActive: s.int('maxActive', d.maxActive, 1),
  };
  if (config.intervalMs > 0 && config.intervalMs < Math.max(100, config.windowMs)) {
    throw invalid(
      s.at('intervalMs'),
      `must be 0 (off) or at least ${Math.max(100, config.windowMs)} ms (and windowMs)`,
      config.intervalMs,
    );
  }
  return config;
}
