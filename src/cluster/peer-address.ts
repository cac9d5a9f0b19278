/**
 * Mesh peer addresses, `host:port` or `[v6]:port` (as config/cluster.ts validates them): parsed
 * once here for the dialer and for the per-worker configs. node built-ins only, nothing loaded.
 */
export interface PeerAddress {
  host: string;
  port: number;
  /** `host:port`, IPv6 in brackets: the address as logged and deduplicated. */
  key: string;
}

/** `host:port`, or `[v6]:port`. */
export function targetOf(host: string, port: number): PeerAddress {
  return { host, port, key: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` };
}

/** Parses `host:port` or `[v6]:port`. */
export function parsePeer(peer: string): PeerAddress {
  const at = peer.lastIndexOf(':');
  const host = peer.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return targetOf(host, Number(peer.slice(at + 1)));
}
