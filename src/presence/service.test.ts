/**
 * The cap on what this node keeps for another node (`maxReplicatedSubscriptionsPerNode`): beyond
 * it only the excess public/private subscriptions are refused; presence members always merge, so
 * a node pushed past the cap keeps its presence as every other node sees it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Refusals } from '../limits/refusals.js';
import { silentLogger } from '../log/logger.js';
import { PresenceService } from './service.js';
import type { Transition } from './view.js';

const topic = (channel: string): string => `app\u0000${channel}`;

function pair(max: number) {
  const refused: string[] = [];
  const transitions: Transition[] = [];
  const refusals = new Refusals({ logger: silentLogger, counter: { inc: (l) => refused.push(l.limit) } });
  const replicated = { heartbeat: { beatSoon() {} }, maxEntriesPerNode: max, refusals };
  const a = new PresenceService('A', { apply() {} }, replicated);
  const b = new PresenceService('B', { apply: (t) => transitions.push(...t) }, replicated);
  const send = (): void => {
    const delta = a.takeDelta();
    if (delta) b.mergeDelta(delta);
  };
  return { a, b, send, refused, transitions };
}

const added = (ts: Transition[], channel: string): string[] =>
  ts.flatMap((t) => (t.kind === 'member_added' && t.topic === topic(channel) ? [t.key] : []));

test('past the cap, public subscriptions are refused but presence members still merge (delta)', () => {
  const { a, b, send, refused, transitions } = pair(5);
  for (let i = 0; i < 10; i++) a.join(topic(`public-${i}`), `s${i}`, `s${i}`, undefined);
  send();
  assert.equal(b.entries(), 5, 'only up to the cap of the public subscriptions');
  assert.deepEqual(refused, ['replicated_subscriptions']);

  a.join(topic('presence-lobby'), 'alice', 's-alice', { name: 'Alice' });
  a.join(topic('#users'), 'alice', 's-alice', undefined);
  send();
  assert.deepEqual(added(transitions, 'presence-lobby'), ['alice'], "A's member is seen on B");
  assert.ok(b.view.hasMember(topic('#users'), 'alice'), "A's signed-in user is online on B");

  a.leave(topic('presence-lobby'), 's-alice');
  send();
  assert.ok(
    transitions.some((t) => t.kind === 'member_removed' && t.key === 'alice'),
    'the leave arrives too: the presence of A is not frozen',
  );
});

test('past the cap, a snapshot keeps every member and as many subscriptions as fit', () => {
  const { a, b, refused } = pair(3);
  for (let i = 0; i < 6; i++) a.join(topic(`public-${i}`), `s${i}`, `s${i}`, undefined);
  a.join(topic('presence-room'), 'bob', 's-bob', undefined);
  a.join(topic('presence-room'), 'carol', 's-carol', undefined);
  b.mergeSnapshot(a.snapshot('A'));
  assert.ok(b.view.hasMember(topic('presence-room'), 'bob'));
  assert.ok(b.view.hasMember(topic('presence-room'), 'carol'));
  assert.equal(b.entries(), 3, 'two members and one public subscription: the cap');
  assert.equal(b.clockOf('A'), a.clockOf('A'), 'the snapshot was taken: no gap is left to repair');
  assert.deepEqual(refused, ['replicated_subscriptions']);
});

test('under the cap, or with no cap, everything merges and nothing is refused', () => {
  const { a, b, send, refused } = pair(0);
  for (let i = 0; i < 50; i++) a.join(topic(`public-${i}`), `s${i}`, `s${i}`, undefined);
  send();
  assert.equal(b.entries(), 50);
  assert.deepEqual(refused, []);
});
