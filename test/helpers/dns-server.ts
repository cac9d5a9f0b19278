/**
 * A real DNS server for tests (UDP, node:dgram + dns-packet): answers A and AAAA queries for the
 * names it is given, NODATA for a known name without records of the asked family, NXDOMAIN for
 * anything else. Records change at once with `set()`; a TTL of 0 keeps resolvers from caching.
 * Nodes find their peers through it with `cluster.mesh.dnsServers: [server.address]`.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';

export interface TestDnsServer {
  /** `127.0.0.1:port` or `[v6]:port`, as `cluster.mesh.dnsServers` takes it. */
  address: string;
  /** Replaces the addresses of `name` (IPv4 become A records, IPv6 AAAA). */
  set(name: string, addresses: readonly string[]): void;
  /** Forgets `name`: NXDOMAIN from now on. */
  remove(name: string): void;
  /** Queries answered so far, per name. */
  queries: Map<string, number>;
  close(): Promise<void>;
}

/** `host`: the address to listen on (default 127.0.0.1; an IPv6 one, as Fly's fdaa::3, listens on UDP over IPv6). */
export async function startDnsServer(options: { host?: string } = {}): Promise<TestDnsServer> {
  const host = options.host ?? '127.0.0.1';
  const records = new Map<string, string[]>();
  const queries = new Map<string, number>();
  const socket = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  socket.on('message', (msg, rinfo) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return; // not DNS: a test server ignores it
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    queries.set(name, (queries.get(name) ?? 0) + 1);
    const known = records.get(name);
    const family = question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : 0;
    const answers = (known ?? [])
      .filter((a) => isIP(a) === family)
      .map((data) => ({
        type: family === 4 ? ('A' as const) : ('AAAA' as const),
        name: question.name,
        ttl: 0,
        class: 'IN' as const,
        data,
      }));
    const reply = dnsPacket.encode({
      type: 'response',
      id: query.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (known ? 0 : 3), // rcode 3: NXDOMAIN
      questions: [question],
      answers,
    });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  socket.bind(0, host);
  await once(socket, 'listening');
  const { port } = socket.address();
  return {
    address: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`,
    set: (name, addresses) => records.set(name.toLowerCase(), [...addresses]),
    remove: (name) => records.delete(name.toLowerCase()),
    queries,
    close: async () => {
      const closed = once(socket, 'close');
      socket.close();
      await closed;
    },
  };
}
