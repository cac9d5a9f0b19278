/**
 * "Did you mean …?" for unknown keys and enum values: a typo must never be silently ignored,
 * and the error should point at the name that was meant. Settings carried over from Soketi get
 * their wiremesh name, or are said to have none.
 */

/** Soketi's names (file keys and app fields) → the wiremesh key, where the context has it. */
const ALIASES: Readonly<Record<string, string>> = {
  debug: 'logLevel',
  shutdownGracePeriod: 'shutdownGraceMs',
  'appManager.array.apps': 'apps',
  'adapter.driver': 'cluster',
  enableClientMessages: 'clientEvents',
  enableUserAuthentication: 'userAuthentication',
  maxPresenceMembersPerChannel: 'maxPresenceMembers',
  maxPresenceMemberSizeInKb: 'maxPresenceMemberSizeBytes',
  maxEventPayloadInKb: 'maxEventPayloadBytes',
  maxEventChannelsAtOnce: 'maxEventChannels',
  event_types: 'events',
  channel_name_starts_with: 'channelNamePrefix',
  channel_name_ends_with: 'channelNameSuffix',
};

/** Soketi settings that wiremesh places elsewhere or does not have. */
const ELSEWHERE: Readonly<Record<string, string>> = {
  maxChannelNameLength: 'did you mean limits.maxChannelNameLength? It applies to all apps',
  maxBackendEventsPerSecond: 'wiremesh has no rate limit on the HTTP API',
  maxReadRequestsPerSecond: 'wiremesh has no rate limit on the HTTP API',
  lambda_function: 'wiremesh webhooks are HTTP requests only',
  lambda: 'wiremesh webhooks are HTTP requests only',
};

/** The candidate that `input` most likely meant, or undefined when none is close. */
export function suggest(input: string, candidates: readonly string[]): string | undefined {
  const alias = ALIASES[input];
  if (alias !== undefined && candidates.includes(alias)) return alias;

  const norm = normalize(input);
  const same = candidates.find((c) => normalize(c) === norm);
  if (same !== undefined) return same;

  // Typos: a few letters wrong, missing, extra or swapped.
  const limit = Math.max(1, Math.floor(input.length / 4));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(norm, normalize(candidate));
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best !== undefined) return best;

  // A word cut short or run on: `warning` → `warn`, `maxConnection` → `maxConnections`.
  const prefixed = candidates.find((c) => {
    const [short, long] = c.length < input.length ? [normalize(c), norm] : [norm, normalize(c)];
    return short.length >= 4 && long.startsWith(short);
  });
  if (prefixed !== undefined) return prefixed;

  // The same words but one: `maxFrameSize` → `maxFrameBytes`.
  const mine = words(input);
  return candidates.find((c) => {
    const theirs = words(c);
    const shared = mine.filter((w) => theirs.includes(w)).length;
    return shared >= 2 && mine.length - shared <= 1 && theirs.length - shared <= 1;
  });
}

/** ` (did you mean x?)`, another hint in parentheses, or '' when there is nothing to say. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const elsewhere = ELSEWHERE[input];
  if (elsewhere !== undefined && !candidates.includes(input)) return ` (${elsewhere})`;
  const s = suggest(input, candidates);
  return s === undefined ? '' : ` (did you mean ${s}?)`;
}

function words(s: string): string[] {
  return s
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[-_. ]+/)
    .filter((w) => w !== '');
}

function normalize(s: string): string {
  return s.toLowerCase().replace(/[-_ ]/g, '');
}

/** Optimal string alignment distance: Levenshtein where swapping two neighbours costs 1. */
function distance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
