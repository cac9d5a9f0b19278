/**
 * The key a per-address limit counts a client under: an IPv4 address (also written IPv4-mapped,
 * `::ffff:1.2.3.4`) as it is, an IPv6 address by its /64, the smallest block a host is usually
 * given (one host has 2^64 addresses to pick from, one /64 is one budget). Anything else is
 * returned unchanged.
 */
import { isIPv6 } from 'node:net';

export function addressGroup(address: string): string {
  const bare = address.replace(/%.*$/, '');
  if (!isIPv6(bare)) return address;
  const lower = bare.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  return `${hextets(lower).slice(0, 4).join(':')}::/64`;
}

/** The 8 groups of a valid IPv6 address, without leading zeros. */
function hextets(address: string): string[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((h) => parseInt(h, 16).toString(16));
}
