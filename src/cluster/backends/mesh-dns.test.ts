/**
 * Mesh peers found through a real DNS server (test/helpers/dns-server.ts) asked directly
 * (`dnsServers`): AAAA records and IPv6 listening (as on Fly.io's 6PN), A and AAAA mixed, peers
 * joining as records appear, an address no longer dialed once its record is gone, and NXDOMAIN
 * keeping the last answer.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/helpers/dns-server.js';
import { freePort } from '../../../test/helpers/server.js';
import { createLogger } from '../../log/logger.js';
import { DNS_INTERVAL_MS } from './mesh-dialer.js';
import { MeshBackend, type MeshBackendOptions } from './mesh.js';

const SECRET = 'dns-test-mesh-secret-of-at-least-32-bytes';
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function dnsServer(): Promise<TestDnsServer> {
  const dns = await startDnsServer();
  closers.push(() => dns.close());
  return dns;
}

async function node(
  options: Partial<MeshBackendOptions> & { port: number; host: string },
): Promise<{ mesh: MeshBackend; logs: string[] }> {
  const logs: string[] = [];
  const mesh = new MeshBackend(
    { peers: [], secret: SECRET, ...options },
    createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
  );
  await mesh.connect({ message: () => {}, connectionChanged: () => {} });
  closers.push(() => mesh.close());
  return { mesh, logs };
}

describe('mesh DNS discovery through a DNS server', () => {
  it('finds IPv6 peers by AAAA records, listening on ::1', async () => {
    const dns = await dnsServer();
    dns.set('app.internal', ['::1']);
    const ports = [await freePort(), await freePort(), await freePort()];
    // One IPv6 address, so the nodes differ by port: every port is dialed on every address.
    const ns = await Promise.all(
      ports.map((port) => node({ port, host: '::1', dns: 'app.internal', dnsServers: [dns.address], dnsPorts: ports })),
    );
    await until(() => ns.every((n) => n.mesh.status().peers.length === 2), 'a full mesh of three over IPv6');
    assert.ok((dns.queries.get('app.internal') ?? 0) >= 3);
    assert.ok(ns[0]!.logs.some((l) => l.includes('mesh peers resolved') && l.includes(`[::1]:${ports[1]}`)));
  });

  it('joins peers as their records appear, stops dialing one whose record is gone, and keeps the last answer on NXDOMAIN', async () => {
    const dns = await dnsServer();
    const port = await freePort();
    dns.set('app.internal', []); // known, no records yet (NODATA)
    const a = await node({ port, host: '127.0.0.1', dns: 'app.internal', dnsServers: [dns.address] });
    const b = await node({ port, host: '127.0.0.2', dns: 'app.internal', dnsServers: [dns.address] });
    await sleep(300);
    assert.deepEqual([a.mesh.status().peers.length, b.mesh.status().peers.length], [0, 0], 'nobody is named yet');
    dns.set('app.internal', ['127.0.0.1', '127.0.0.2', '::1']); // A and AAAA (nobody listens on ::1 here)
    await until(
      () => a.mesh.status().peers.length === 1 && b.mesh.status().peers.length === 1,
      'a and b to meet',
      DNS_INTERVAL_MS + 3_000,
    );

    // b's record goes; b goes. a no longer dials b's address.
    dns.set('app.internal', ['127.0.0.1']);
    await sleep(DNS_INTERVAL_MS + 500);
    await b.mesh.close();
    await until(() => a.mesh.status().peers.length === 0, 'b gone');
    const dials = a.mesh.status().dials;
    await sleep(1_500); // a redial would come within 100-250 ms
    assert.equal(a.mesh.status().dials, dials, 'no redial of an address the DNS no longer names');

    // The name stops existing (NXDOMAIN): the last answer is kept, and the failure logged.
    dns.remove('app.internal');
    await until(
      () => a.logs.some((l) => l.includes('mesh peer DNS lookup failed')),
      'the NXDOMAIN to be logged',
      DNS_INTERVAL_MS + 3_000,
    );
    assert.ok(a.logs.some((l) => l.includes('ENOTFOUND')));
  });

  it('takes at most dnsMaxAddresses from one answer, and logs a count and a short sample, not every address', async () => {
    // 2,400 addresses in one answer (nobody listens on them): a name turned hostile or broken.
    const answer = Array.from({ length: 2_400 }, (_, i) => `127.3.${i >> 8}.${(i & 255) + 1}`);
    const port = await freePort();
    const a = await node({ port, host: '127.0.0.1', dns: 'app.internal', resolve: () => Promise.resolve(answer) });
    await until(() => a.logs.some((l) => l.includes('mesh peers resolved')), 'the answer to be taken');
    const resolved = JSON.parse(a.logs.find((l) => l.includes('mesh peers resolved'))!) as {
      count: number;
      peers: string[];
    };
    assert.equal(resolved.count, 64, 'the default cap');
    assert.ok(resolved.peers.length <= 8, 'a sample of the addresses');
    const warned = a.logs.find((l) => l.includes('too many addresses'));
    assert.ok(warned?.includes('"addresses":2400'), 'the cut is logged with the count');
    assert.ok(Math.max(...a.logs.map((l) => l.length)) < 2_000, 'no log line lists the whole answer');
    await sleep(300);
    // Each address is dialed once, then retried after 75-125 ms: at most a few rounds of 64.
    assert.ok(a.mesh.status().dials <= 64 * 4, `${a.mesh.status().dials} dials`);

    const b = await node({
      port: await freePort(),
      host: '127.0.0.1',
      dns: 'app.internal',
      dnsMaxAddresses: 5,
      resolve: () => Promise.resolve(answer),
    });
    await until(() => b.logs.some((l) => l.includes('mesh peers resolved')), 'the answer to be taken');
    assert.ok(b.logs.some((l) => l.includes('mesh peers resolved') && l.includes('"count":5')));
  });
});
