/**
 * Validation of `apps[].history`, the channels of one app that keep a bounded history so clients
 * can resume after a reconnect. Absent: no channel of the app keeps history.
 */
import { historyDefaults } from './schema.js';
import type { HistoryConfig } from './schema.js';
import { channelMatcher, readChannelPattern } from './channel-patterns.js';
import { invalid, join, Section } from './fields.js';

const KEYS = ['channels', ...Object.keys(historyDefaults())] as const;

export function readHistory(raw: unknown, path: string): HistoryConfig {
  const d = historyDefaults();
  const s = Section.open(raw, path, KEYS);
  const channels = s.list('channels', [], readChannelPattern);
  if (channels.length === 0)
    throw invalid(
      s.at('channels'),
      'must list at least one channel name pattern (remove the history section to turn history off)',
    );
  channels.forEach((c, i) => {
    if (channels.indexOf(c) !== i) throw invalid(join(s.at('channels'), i), 'is listed twice', c);
  });
  return {
    channels,
    maxEvents: s.int('maxEvents', d.maxEvents, 1, 10_000),
    maxAgeMs: s.int('maxAgeMs', d.maxAgeMs, 1_000, 24 * 3_600_000),
    // A replay travels as one message between nodes (JSON-escaped): NATS refuses payloads over 1 MiB by default.
    maxBytes: s.int('maxBytes', d.maxBytes, 1_024, 448 * 1024),
    maxChannels: s.int('maxChannels', d.maxChannels, 1),
    resumeTimeoutMs: s.int('resumeTimeoutMs', d.resumeTimeoutMs, 100, 60_000),
    store: s.oneOf('store', ['auto', 'memory', 'broker'] as const, d.store),
    resumesPerSecond: s.int('resumesPerSecond', d.resumesPerSecond, 1, 10_000),
  };
}

/** One RegExp for all of an app's patterns (`*` = any run of characters, everything else literal), without backtracking. */
export function historyMatcher(patterns: readonly string[]): RegExp {
  return channelMatcher(patterns);
}
