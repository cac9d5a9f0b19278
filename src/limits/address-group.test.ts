import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressGroup } from './address-group.js';

test('IPv4 (also IPv4-mapped) is its own group; IPv6 groups by /64, however it is written', () => {
  assert.equal(addressGroup('203.0.113.7'), '203.0.113.7');
  assert.equal(addressGroup('::ffff:203.0.113.7'), '203.0.113.7');
  const g = '2001:db8:0:1::/64';
  for (const a of [
    '2001:db8:0:1::1',
    '2001:db8::1:ffff:0:0:2',
    '2001:0DB8:0000:0001:abcd::9',
    '2001:db8:0:1:0:0:1.2.3.4',
  ])
    assert.equal(addressGroup(a), g, a);
  assert.equal(addressGroup('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressGroup('::1'), '0:0:0:0::/64');
  assert.notEqual(addressGroup('2001:db8:0:2::1'), g);
  assert.equal(addressGroup('unknown'), 'unknown');
});
