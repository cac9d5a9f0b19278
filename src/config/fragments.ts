/**
 * Validation of `apps[].fragments`, the shared fragments of one app (docs/fragments.md). Absent:
 * fragments are off for that app. Present: renders go to the app's Livewire upstreams (the rule
 * that `livewire` must be set too is checked with the app, config/apps.ts), and only the
 * fragments listed in `names`, on the channels their patterns match, can be viewed.
 */
import { readChannelPattern } from './channel-patterns.js';
import { fragmentsDefaults } from './schema.js';
import type { FragmentsConfig } from './schema.js';
import { invalid, isPlainObject, join, Section } from './fields.js';

const KEYS = Object.keys(fragmentsDefaults()) as Array<keyof FragmentsConfig>;

/** A fragment name, as pages write it in `data-wiremesh-fragment` (also a URL path segment). */
export const FRAGMENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const PATH = /^\/[!$&'()*+,\-./0-9:;=@A-Z_a-z~]*$/;

export function readFragments(raw: unknown, path: string): FragmentsConfig {
  const d = fragmentsDefaults();
  const s = Section.open(raw ?? {}, path, KEYS);
  const names = readNames(s.get('names'), s.at('names'));
  const config: FragmentsConfig = {
    path: s.string('path', d.path, { pattern: PATH, describe: "a path starting with '/' (without query)" }),
    names,
    windowMs: s.int('windowMs', d.windowMs, 0, 60_000),
    intervalMs: s.int('intervalMs', d.intervalMs, 0),
    timeoutMs: s.int('timeoutMs', d.timeoutMs, 1, 120_000),
    maxHtmlBytes: s.int('maxHtmlBytes', d.maxHtmlBytes, 1, 16 * 1024 * 1024),
    maxPerConnection: s.int('maxPerConnection', d.maxPerConnection, 1),
    maxActive: s.int('maxActive', d.maxActive, 1),
    maxPerAddress: s.int('maxPerAddress', d.maxPerAddress, 1),
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

const EXAMPLE = '{"online-users": ["presence-lobby"]}';

/** `names`: fragment name → the channel patterns it may be viewed on. At least one fragment. */
function readNames(raw: unknown, path: string): Record<string, string[]> {
  if (raw === undefined) {
    throw invalid(path, `must list the fragments pages may view, each with its channel patterns, e.g. ${EXAMPLE}`);
  }
  if (!isPlainObject(raw)) {
    throw invalid(
      path,
      `must map each fragment name to the channel patterns it may be viewed on, e.g. ${EXAMPLE}`,
      raw,
    );
  }
  const names: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [name, patterns] of Object.entries(raw)) {
    const at = join(path, name);
    if (!FRAGMENT_NAME.test(name)) throw invalid(at, 'must be a fragment name: 1–64 characters A-Z a-z 0-9 _ - . :');
    if (!Array.isArray(patterns) || patterns.length === 0) {
      throw invalid(
        at,
        "must list the channel patterns this fragment may be viewed on ('*' for any run of characters)",
        patterns,
      );
    }
    const list = patterns.map((p, i) => readChannelPattern(p, join(at, i)));
    list.forEach((p, i) => {
      if (list.indexOf(p) !== i) throw invalid(join(at, i), 'is listed twice', p);
    });
    names[name] = list;
  }
  if (Object.keys(names).length === 0) throw invalid(path, `must list at least one fragment, e.g. ${EXAMPLE}`);
  return names;
}
