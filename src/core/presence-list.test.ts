import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PresenceLists } from './presence-list.js';

const str = JSON.stringify;
const odd = ['', 'a"b', 'back\\slash', 'line\nbreak', 'é✓', '\u0000', '\ud800', '__proto__', 'x'];

/** What the frame means: parsed twice, as a client does. */
function decode(frame: readonly Buffer[]): {
  event: string;
  channel: string;
  presence: { ids: string[]; hash: object; count: number };
} {
  const f = JSON.parse(Buffer.concat(frame).toString()) as { event: string; channel: string; data: string };
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
  const pieces = lists.frame(
    'presence-n',
    't:n',
    new Map([
      ['10', 1],
      ['2', 2],
    ]),
  );
  const text = Buffer.concat(pieces).toString();
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

test('random joins, leaves, rejoins and info changes give the frame a fresh list would; frames already handed out never change', () => {
  const lists = new PresenceLists();
  const members = new Map<string, unknown>();
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const handedOut: { pieces: Buffer[]; text: string }[] = [];
  for (let step = 0; step < 2_000; step++) {
    const id = odd[rand(odd.length)]! + String(rand(40));
    const roll = rand(10);
    if (roll < 5) members.set(id, rand(3) === 0 ? undefined : { name: 'x'.repeat(rand(200)), step });
    else if (roll < 8) members.delete(id);
    else if (members.has(id)) members.set(id, { changed: step });
    if (rand(4) !== 0) continue;
    const pieces = lists.frame('presence-r', 't', members);
    handedOut.push({ pieces, text: Buffer.concat(pieces).toString() });
    const got = decode(pieces).presence;
    const hash = Object.create(null) as Record<string, unknown>;
    for (const [k, info] of members) hash[k] = info ?? null;
    assert.deepEqual(got.ids, [...members.keys()], `step ${step}`);
    assert.deepEqual(got.hash, JSON.parse(str(hash)), `step ${step}`);
    assert.equal(got.count, members.size);
  }
  // Pieces are written after later joins and leaves changed the list: they must still say what they said.
  for (const { pieces, text } of handedOut) assert.equal(Buffer.concat(pieces).toString(), text);
  assert.ok(handedOut.length > 400);
});
