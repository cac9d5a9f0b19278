import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PresenceLists } from './presence-list.js';

const str = JSON.stringify;
const odd = ['', 'a"b', 'back\\slash', 'line\nbreak', 'é✓', '\u0000', '\ud800', '__proto__', 'x'];

/** What the frame means: parsed twice, as a client does. */
function decode(frame: string): {
  event: string;
  channel: string;
  presence: { ids: string[]; hash: object; count: number };
} {
  const f = JSON.parse(frame) as { event: string; channel: string; data: string };
  return { event: f.event, channel: f.channel, presence: (JSON.parse(f.data) as { presence: never }).presence };
}

test('the frame says what stringifying { presence } twice says, for odd ids, odd infos and no info', () => {
  const lists = new PresenceLists();
  const members = new Map<string, unknown>(odd.map((id, i) => [id, i % 3 === 0 ? undefined : { name: odd[i], n: i }]));
  const hash = Object.create(null) as Record<string, unknown>;
  for (const [id, info] of members) hash[id] = info ?? null;
  const want = { ids: [...members.keys()], hash, count: members.size };
  for (const channel of ['presence-room', 'presence-"q"']) {
    const got = decode(lists.frame(channel, `t:${channel}`, members));
    assert.equal(got.event, 'pusher_internal:subscription_succeeded');
    assert.equal(got.channel, channel);
    assert.deepEqual(got.presence, JSON.parse(str(want)));
  }
  // Join order is kept in the hash (JSON.stringify of an object would sort integer-like keys first).
  const text = lists.frame(
    'presence-n',
    't:n',
    new Map([
      ['10', 1],
      ['2', 2],
    ]),
  );
  assert.ok(JSON.parse(JSON.parse(text).data).presence.ids.join() === '10,2');
  assert.match(JSON.parse(text).data, /"hash":\{"10":1,"2":2\}/);
});

test('follows joins, leaves and changed infos; forget drops the channel', () => {
  const lists = new PresenceLists();
  const members = new Map<string, unknown>([['a', { v: 1 }]]);
  assert.deepEqual(decode(lists.frame('presence-x', 't', members)).presence, {
    ids: ['a'],
    hash: { a: { v: 1 } },
    count: 1,
  });
  members.set('b', null);
  members.set('a', { v: 2 });
  assert.deepEqual(decode(lists.frame('presence-x', 't', members)).presence, {
    ids: ['a', 'b'],
    hash: { a: { v: 2 }, b: null },
    count: 2,
  });
  members.delete('a');
  assert.deepEqual(decode(lists.frame('presence-x', 't', members)).presence, {
    ids: ['b'],
    hash: { b: null },
    count: 1,
  });
  assert.deepEqual(decode(lists.frame('presence-x', 't', new Map())).presence, { ids: [], hash: {}, count: 0 });
  assert.equal(lists.size, 1);
  lists.forget('t');
  assert.equal(lists.size, 0);
});
