import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Unacked, type Sent } from './unacked.js';

const sent = (id: number, frame = '{}'): Sent => ({ id, appId: 'a', topic: 't', frame, except: undefined });

test('an ack drops everything sent before it, in the order sent (retries may carry older ids)', () => {
  const u = new Unacked();
  for (const id of [7, 8, 3, 4, 9]) u.add('o', sent(id));
  u.ack('o', 3);
  assert.deepEqual(
    u.take('o').events.map((e) => e.id),
    [4, 9],
  );
  u.add('o', sent(1));
  u.ack('o', 42); // not ours: nothing changes
  assert.deepEqual(
    u.take('o').events.map((e) => e.id),
    [1],
  );
  assert.deepEqual(u.take('o'), { events: [], dropped: 0 });
});

test('bounded per node by count and bytes: the oldest go, counted', () => {
  const u = new Unacked({ events: 3, bytes: 10 });
  for (let id = 1; id <= 5; id++) u.add('o', sent(id));
  assert.deepEqual(u.take('o').dropped, 2);
  u.add('p', sent(1, '{"x":"123"}'));
  u.add('p', sent(2, '{"y":"456"}'));
  const p = u.take('p');
  assert.deepEqual(
    p.events.map((e) => e.id),
    [2],
    'the newest is always kept',
  );
  assert.equal(p.dropped, 1);
});
