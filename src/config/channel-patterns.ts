/**
 * Channel name patterns, as `apps[].history.channels` and `apps[].fragments.names` list them: the
 * characters of a Pusher channel name, `*` standing for any run of them (also none).
 *
 * A pattern is matched without backtracking: its first part must start the name, its last part
 * end it, and each part in between is taken at its leftmost place after the one before (which is
 * always right for `*`-only patterns). The RegExp built here does exactly that: every middle
 * part sits in a lookahead, which JavaScript never re-enters once it matched, so one test costs
 * at most (name length × pattern length) steps per pattern, however many `*` it has.
 */
import { invalid } from './fields.js';

const PATTERN = /^[A-Za-z0-9_\-=@,.;#*]{1,200}$/;

/** One pattern from a config list; throws a ConfigError naming `path`. */
export function readChannelPattern(value: unknown, path: string): string {
  if (typeof value !== 'string' || !PATTERN.test(value)) {
    throw invalid(path, "must be a channel name pattern (channel name characters, '*' for any run of them)", value);
  }
  return value;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One RegExp for all of `patterns`, linear in the name's length (see above). */
export function channelMatcher(patterns: readonly string[]): RegExp {
  let group = 0;
  const alternatives = patterns.map((p) => {
    const parts = p.split('*');
    if (parts.length === 1) return escape(p);
    const first = escape(parts[0]!);
    const last = escape(parts[parts.length - 1]!);
    // A lazy run up to the part's leftmost place, inside a lookahead (atomic), then consumed
    // through a back-reference: nothing before the last part is ever tried twice.
    const middle = parts
      .slice(1, -1)
      .filter((part) => part !== '')
      .map((part) => `(?=([^]*?${escape(part)}))\\${++group}`)
      .join('');
    return `${first}${middle}[^]*${last}`;
  });
  return new RegExp(`^(?:${alternatives.map((a) => `(?:${a})`).join('|')})$`);
}
