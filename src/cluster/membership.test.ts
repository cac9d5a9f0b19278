import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Membership } from './membership.js';

test('owners spread over the nodes even for channels whose names differ only at the end', () => {
  for (const run of ['a', 'b', 'c', 'd']) {
    const m = new Membership(`node0-${run}1f3e`, { nodeTimeoutMs: 1_000, forgetAfterMs: 60_000 }, () => 0);
    m.heartbeat(`node1-${run}77c2`, {});
    m.heartbeat(`node2-${run}0b9d`, {});
    const owners = new Map<string, number>();
    for (let k = 0; k < 60; k++) {
      const owner = m.owner(`app-id\u0000orders-${run}-${k}`);
      owners.set(owner, (owners.get(owner) ?? 0) + 1);
    }
    assert.equal(owners.size, 3, `run ${run}: every node owns some`);
    for (const [node, n] of owners) assert.ok(n >= 8, `run ${run}: ${node} owns ${n} of 60`);
  }
});
