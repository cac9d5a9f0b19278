import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { addressGroup, TrustedProxies } from './client-address.js';
import { ConnectionLimits } from './connection-limits.js';
import { Refusals, type LimitName } from './refusals.js';
import { SocketGuard } from './socket-guard.js';

test('per-address limits count an IPv4 address, or an IPv6 /64', () => {
  assert.equal(addressGroup('203.0.113.5'), '203.0.113.5');
  assert.equal(addressGroup('::ffff:203.0.113.5'), '203.0.113.5');
  assert.equal(addressGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(addressGroup('2001:0db8:0001:0002::1'), '2001:db8:1:2::/64');
  assert.equal(addressGroup('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressGroup('::1'), '0:0:0:0::/64');
  assert.equal(addressGroup('fe80::1:2:3:4'), 'fe80:0:0:0::/64');
});

function refusals(counts: LimitName[] = []): Refusals {
  return new Refusals({
    logger: createLogger({ level: 'silent' }),
    counter: { inc: ({ limit }) => counts.push(limit) },
  });
}

test('one IPv6 /64 shares one WebSocket budget, whatever the addresses in it', () => {
  const limits = new ConnectionLimits({
    maxConnections: 0,
    maxConnectionsPerIp: 2,
    open: () => 0,
    refusals: refusals(),
  });
  limits.opened('2001:db8:1:2::1');
  limits.opened('2001:db8:1:2::2');
  assert.notEqual(limits.check({ remoteAddress: '2001:db8:1:2:ffff::9' }), null);
  assert.equal(limits.check({ remoteAddress: '2001:db8:1:3::1' }), null);
  limits.closed('2001:db8:1:2::1');
  assert.equal(limits.check({ remoteAddress: '2001:db8:1:2::77' }), null);
});

test('sockets at accept: per address (WebSocket cap + reserve, at most half the node), in total, trusted proxies only in total', () => {
  const counts: LimitName[] = [];
  const guard = new SocketGuard({
    maxConnections: 136, // + 64 reserve = 200 sockets; one address at most min(10 + 64, 100) = 74
    maxConnectionsPerIp: 10,
    firstRequestMs: 10_000,
    proxies: new TrustedProxies(['10.0.0.1']),
    refusals: refusals(counts),
  });
  assert.equal(guard.maxSockets, 200);
  assert.equal(guard.maxPerAddress, 74);
  for (let i = 0; i < 74; i++) assert.equal(guard.accept('2001:db8::' + i.toString(16)), true);
  assert.equal(guard.accept('2001:db8::ffff'), false, 'the /64 is full');
  assert.deepEqual(counts, ['sockets_per_ip']);
  guard.release('2001:db8::ffff'); // a refused socket is released when it closes, like any other
  for (let i = 0; i < 125; i++)
    assert.equal(guard.accept('10.0.0.1'), true, 'a trusted proxy is not capped per address');
  assert.equal(guard.open, 199);
  assert.equal(guard.accept('198.51.100.1'), true);
  assert.equal(guard.accept('198.51.100.2'), false, 'the node is full');
  guard.release('198.51.100.2');
  guard.release('2001:db8::0');
  assert.equal(guard.accept('2001:db8::abc'), true, 'a slot freed is usable again');
});

test('a trusted proxy names the client: rightmost untrusted X-Forwarded-For hop, or Fly-Client-IP when that is the header', () => {
  const xff = new TrustedProxies(['127.0.0.1/32', '10.0.0.0/8']);
  const headers = { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.1.1.1', 'fly-client-ip': '7.7.7.7' };
  assert.equal(xff.clientOf('127.0.0.1', headers), '203.0.113.9');
  assert.equal(xff.clientOf('::ffff:127.0.0.1', headers), '203.0.113.9');
  assert.equal(xff.clientOf('198.51.100.1', headers), '198.51.100.1', 'an untrusted peer is the client');
  assert.equal(xff.clientOf('127.0.0.1', {}), '127.0.0.1', 'no header: the proxy itself');
  const fly = new TrustedProxies(['0.0.0.0/0', '::/0'], 'fly-client-ip');
  assert.equal(fly.clientOf('172.16.1.2', headers), '7.7.7.7');
  assert.equal(
    fly.clientOf('172.16.1.2', { 'x-forwarded-for': '6.6.6.6' }),
    '172.16.1.2',
    'X-Forwarded-For is not believed',
  );
});

test('trustedProxies and proxyHeader from the environment, as deploy/fly/fly.toml sets them', async () => {
  const config = await loadConfig({
    env: {
      PUSHER_APP_ID: 'a',
      PUSHER_APP_KEY: 'k',
      PUSHER_APP_SECRET: 's',
      WIREMESH_TRUSTED_PROXIES: '0.0.0.0/0,::/0',
      WIREMESH_PROXY_HEADER: 'fly-client-ip',
      WIREMESH_HEADERS_TIMEOUT_MS: '5000',
    },
  });
  assert.deepEqual(config.trustedProxies, ['0.0.0.0/0', '::/0']);
  assert.equal(config.proxyHeader, 'fly-client-ip');
  assert.equal(config.limits.headersTimeoutMs, 5000);
  await assert.rejects(
    loadConfig({ env: { WIREMESH_TRUSTED_PROXIES: '10.0.0.0/33' } }),
    /trustedProxies\[0\].*IP address or a CIDR range/,
  );
});
