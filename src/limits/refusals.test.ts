import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../log/logger.js';
import { Refusals, type LimitName } from './refusals.js';

function setup(maxAddresses?: number) {
  let now = 0;
  const lines: Array<Record<string, unknown>> = [];
  const counts: LimitName[] = [];
  const refusals = new Refusals({
    logger: createLogger({ level: 'debug', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }),
    counter: { inc: ({ limit }) => counts.push(limit) },
    quietMs: 1_000,
    ...(maxAddresses === undefined ? {} : { maxAddresses }),
    now: () => now,
  });
  return { refusals, lines, counts, advance: (ms: number) => (now += ms) };
}

test('one warn line per episode and address, a closing line with the count, every refusal counted', () => {
  const { refusals, lines, counts, advance } = setup();
  for (let i = 0; i < 50; i++) {
    refusals.refused('connections_per_ip', '10.0.0.1', 'too many', { max: 5 });
    advance(10);
  }
  refusals.refused('connections_per_ip', '10.0.0.2', 'too many');
  assert.equal(counts.length, 51);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.client]),
    [
      [40, 'too many', '10.0.0.1'],
      [40, 'too many', '10.0.0.2'],
    ],
  );
  assert.equal(lines[0]!.max, 5);
  assert.equal(lines[0]!.limit, 'connections_per_ip');
  assert.equal(lines[0]!.address, undefined, 'the client is named `client`, as in every refusal line');
  advance(1_000);
  refusals.sweep();
  assert.deepEqual(
    lines.slice(2).map((l) => [l.client, l.refused]),
    [['10.0.0.1', 50]],
    'a single refusal needs no closing line',
  );
  // A new episode after the quiet period is logged again.
  refusals.refused('connections_per_ip', '10.0.0.1', 'too many');
  assert.equal(lines.length, 4);
});

test('addresses followed at once are bounded: the rest are grouped under *', () => {
  const { refusals, lines } = setup(3);
  for (let i = 0; i < 100; i++) refusals.refused('frames_per_second', `10.0.1.${i}`, 'too fast');
  assert.deepEqual(
    lines.map((l) => l.client),
    ['10.0.1.0', '10.0.1.1', '10.0.1.2', '*'],
  );
});
