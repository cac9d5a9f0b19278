/**
 * Client addresses as the per-address limits count them, and who may name the client instead of
 * the TCP peer (a trusted proxy's X-Forwarded-For or Fly-Client-IP).
 *
 * - An IPv4-mapped IPv6 address (`::ffff:203.0.113.5`) is its IPv4 address.
 * - IPv6 addresses are grouped by /64: one host (one customer of a provider) is given a whole /64,
 *   so counting the exact address would give it 2^64 budgets.
 */
import { BlockList, isIP } from 'node:net';

/** `::ffff:203.0.113.5` → `203.0.113.5`; anything else as it is. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The key a per-address limit counts under: the IPv4 address, or the IPv6 /64 (`2001:db8:1:2::/64`). */
export function addressGroup(address: string): string {
  const plain = plainAddress(address);
  if (isIP(plain) !== 6) return plain;
  const halves = plain.split('::');
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length > 1 && halves[1] !== '' ? halves[1]!.split(':') : [];
  // An embedded IPv4 tail (`::1.2.3.4`) is in the lower 64 bits: it never reaches the prefix.
  const groups =
    halves.length > 1 ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  const prefix = groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16));
  return `${prefix.join(':')}::/64`;
}

/** The header a trusted proxy names the client in. */
export type ProxyHeader = 'x-forwarded-for' | 'fly-client-ip';

/**
 * Which TCP peers may name the client (addresses and CIDR ranges, validated by the config), and
 * in which header: the rightmost address of X-Forwarded-For that is not itself a trusted proxy,
 * or `Fly-Client-IP` (fly-proxy sets it, replacing any a client sent; fly-proxy's own
 * X-Forwarded-For ends with the app's address, not the client's). Only one header is believed: a
 * proxy that passes the other through from the client cannot be fooled by it.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(
    entries: readonly string[],
    private readonly header: ProxyHeader = 'x-forwarded-for',
  ) {
    for (const entry of entries) {
      const [address = '', bits] = entry.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(bits), family);
    }
    this.size = entries.length;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    return family !== 0 && this.list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The client's address as far as it can be known from `peer` and the request's headers. */
  clientOf(peer: string, headers: Readonly<Record<string, string>>): string {
    const plain = plainAddress(peer);
    if (!this.has(plain)) return plain;
    if (this.header === 'fly-client-ip') {
      const fly = (headers['fly-client-ip'] ?? '').trim();
      return isIP(fly) !== 0 ? plainAddress(fly) : plain;
    }
    const hops = forwardedChain(headers);
    for (let i = hops.length - 1; i >= 0; i--) if (!this.has(hops[i]!)) return plainAddress(hops[i]!);
    return hops[0] === undefined ? plain : plainAddress(hops[0]);
  }
}

/** The addresses of X-Forwarded-For, first (the original client, as claimed) to last. */
export function forwardedChain(headers: Readonly<Record<string, string>>): string[] {
  return (headers['x-forwarded-for'] ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => isIP(h) !== 0);
}
