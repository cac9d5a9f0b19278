/**
 * Simulated regions for the mesh: real `wiremesh start` processes, one shaped TCP link
 * (netsim.ts) per ordered pair of nodes, and a real DNS server (dns-server.ts) through which
 * every node finds its peers.
 *
 * Addressing: every node and every link has an address of its own on the loopback device, one
 * mesh port P for all (as on Fly.io, where the DNS gives addresses, not ports). IPv6 ULAs like
 * Fly's 6PN when the process can add them (root and `ip`, loopback-addresses.ts), else IPv4
 * loopback addresses (no root needed); `family` says which ran:
 * - node k's mesh port listens on fdaa:…::1:(k+1) (IPv4: 127.0.1.(k+1)), port P;
 * - the link from node i to node j is a proxy on its own address fdaa:…::2:x (127.0.2.x), port P,
 *   shaped with half the round trip between their regions each way;
 * - the DNS server listens on fdaa:…::3:1 (127.0.0.1) and node i's name `n<i>.mesh.test` answers
 *   the addresses of its outgoing links (AAAA records, or A), so what node i dials is what the
 *   test routes and shapes. Changing the records adds or removes peers.
 * Clients reach their node through a link of their own (`clientPort`, 127.0.0.1), shaped with
 * `lastMileMs` one way (default 1 ms): they are in the node's region. Publishers (the Laravel
 * app, next to the node) call the node's HTTP API directly (`port`).
 */
import { readFileSync } from 'node:fs';
import { freePort, spawnServer, type ServerProcess } from './server.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';
import { loopbackAddresses } from './loopback-addresses.js';
import { LinkProxy, type Shape } from './netsim.js';

export const REGION_SECRET = 'regions-test-mesh-secret-of-32-bytes-or-more';

export interface RegionSpec {
  name: string;
  nodes: number;
}

export interface RegionOptions {
  regions: RegionSpec[];
  /** Round trip between two regions, ms (symmetric; a region to itself is 0). */
  rtt(a: string, b: string): number;
  heartbeatMs: number;
  nodeTimeoutMs: number;
  /** One-way delay between a client and its node, ms (default 1). */
  lastMileMs?: number;
}

export interface RegionNode {
  index: number;
  region: string;
  meshHost: string;
  proc: ServerProcess;
  /** The node's own client port (HTTP API, publishers). */
  port: number;
  /** Where this region's clients connect: the last-mile link to `port`. */
  clientPort: number;
  clientLink: LinkProxy;
  alive: boolean;
}

export interface Regions {
  /** The address family the nodes and links ran on. */
  family: 4 | 6;
  /** Why IPv4 (absent on IPv6). */
  fallback?: string;
  /** One line for test and bench output: which family ran, and why not IPv6 if not. */
  describeFamily(): string;
  nodes: RegionNode[];
  meshPort: number;
  dns: TestDnsServer;
  /** links.get(`${i}>${j}`): the proxy node i dials to reach node j. */
  links: Map<string, LinkProxy>;
  link(i: number, j: number): LinkProxy;
  /** One-way delay between the regions of two nodes. */
  oneWay(i: number, j: number): number;
  /** Cuts every link between the nodes of `region` and the others. */
  partition(region: string): void;
  heal(region: string): void;
  kill(i: number): Promise<void>;
  /** Resident memory of node i's process, bytes. */
  rss(i: number): number;
  close(): Promise<void>;
}

export async function startRegions(options: RegionOptions): Promise<Regions> {
  const lo = await loopbackAddresses();
  const specs = options.regions.flatMap((r) => Array.from({ length: r.nodes }, () => r.name));
  const nodeHost = (i: number): string => lo.address(1, i + 1);
  const linkHosts = Array.from({ length: specs.length * (specs.length - 1) }, (_, x) => lo.address(2, x + 1));
  const dnsHost = lo.family === 6 ? lo.address(3, 1) : '127.0.0.1';
  const links = new Map<string, LinkProxy>();
  const nodes: RegionNode[] = [];
  let dns: TestDnsServer | null = null;
  const oneWay = (i: number, j: number): number => options.rtt(specs[i]!, specs[j]!) / 2;
  const cleanup = async (): Promise<void> => {
    try {
      for (const n of nodes) if (n.proc.child.exitCode === null) n.proc.kill('SIGKILL');
      await Promise.all(nodes.map((n) => n.proc.exited));
      await Promise.all([...links.values(), ...nodes.map((n) => n.clientLink)].map((l) => l.close()));
      await dns?.close();
    } finally {
      await lo.release();
    }
  };
  let meshPort = 0;
  try {
    await lo.add([...specs.map((_, i) => nodeHost(i)), ...linkHosts, ...(lo.family === 6 ? [dnsHost] : [])]);
    dns = await startDnsServer({ host: dnsHost });
    meshPort = await freePort();
    let x = 0;
    for (let i = 0; i < specs.length; i++) {
      const mine: string[] = [];
      for (let j = 0; j < specs.length; j++) {
        if (i === j) continue;
        const shape: Partial<Shape> = { delayMs: oneWay(i, j) };
        const link = await LinkProxy.start({
          host: linkHosts[x++]!,
          port: meshPort,
          target: { host: nodeHost(j), port: meshPort },
          forward: shape,
          back: shape,
        });
        links.set(`${i}>${j}`, link);
        mine.push(link.host);
      }
      dns.set(`n${i}.mesh.test`, mine);
    }
    for (let i = 0; i < specs.length; i++) {
      const meshHost = nodeHost(i);
      const proc = await spawnServer({
        nodeId: `${specs[i]}-${i}`,
        logLevel: 'info',
        shutdownGraceMs: 0,
        cluster: {
          driver: 'mesh',
          heartbeatMs: options.heartbeatMs,
          nodeTimeoutMs: options.nodeTimeoutMs,
          mesh: {
            port: meshPort,
            host: meshHost,
            dns: `n${i}.mesh.test`,
            dnsServers: [dns.address],
            secret: REGION_SECRET,
          },
        },
      });
      const lastMile = { delayMs: options.lastMileMs ?? 1 };
      const clientLink = await LinkProxy.start({
        target: { host: '127.0.0.1', port: proc.port },
        forward: lastMile,
        back: lastMile,
      });
      nodes.push({
        index: i,
        region: specs[i]!,
        meshHost,
        proc,
        port: proc.port,
        clientPort: clientLink.port,
        clientLink,
        alive: true,
      });
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  const server = dns;
  const between = (region: string): LinkProxy[] =>
    [...links]
      .filter(([key]) => {
        const [i, j] = key.split('>').map(Number) as [number, number];
        return (specs[i] === region) !== (specs[j] === region);
      })
      .map(([, l]) => l);
  return {
    family: lo.family,
    ...(lo.fallback === undefined ? {} : { fallback: lo.fallback }),
    describeFamily: () =>
      lo.family === 6
        ? `IPv6 (${nodeHost(0)} …, like Fly's 6PN)`
        : `IPv4 loopback (127.0.1.x; not IPv6: ${lo.fallback})`,
    nodes,
    meshPort,
    dns: server,
    links,
    link: (i, j) => links.get(`${i}>${j}`)!,
    oneWay,
    partition: (region) => between(region).forEach((l) => l.cut()),
    heal: (region) => between(region).forEach((l) => l.restore()),
    kill: async (i) => {
      nodes[i]!.proc.kill('SIGKILL');
      await nodes[i]!.proc.exited;
      nodes[i]!.alive = false;
    },
    rss: (i) => {
      const status = readFileSync(`/proc/${nodes[i]!.proc.child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    close: cleanup,
  };
}

/** p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
