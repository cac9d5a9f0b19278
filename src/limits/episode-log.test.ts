import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../log/logger.js';
import { EpisodeLog, type EpisodeLogOptions } from './episode-log.js';

type Line = Record<string, unknown>;

function setup(opts: Partial<Omit<EpisodeLogOptions, 'logger' | 'now'>> = {}) {
  let now = 1_000_000;
  const lines: Line[] = [];
  const log = new EpisodeLog({
    logger: createLogger({ level: 'debug', sink: (l) => lines.push(JSON.parse(l) as Line) }),
    summary: 'episode ended',
    quietMs: 1_000,
    now: () => now,
    ...opts,
  });
  return { log, lines, advance: (ms: number) => (now += ms) };
}

const pick = (lines: Line[], ...keys: string[]) => lines.map((l) => keys.map((k) => l[k]));

test('the first event of a key is logged at once at warn with its fields; repeats are only counted', () => {
  const { log, lines, advance } = setup({ scopeField: 'code' });
  for (let i = 0; i < 30; i++) {
    log.note('not_allowed', '10.0.0.1', 'refused', { detail: `try ${i}` });
    advance(100);
  }
  assert.equal(lines.length, 1);
  assert.deepEqual(pick(lines, 'level', 'msg', 'code', 'client', 'detail'), [
    [40, 'refused', 'not_allowed', '10.0.0.1', 'try 0'],
  ]);
});

test('an episode with repeats ends with one summary line after quietMs; one without repeats ends silently', () => {
  const { log, lines, advance } = setup({ scopeField: 'limit' });
  log.note('frames', '10.0.0.1', 'too fast');
  advance(300);
  log.note('frames', '10.0.0.1', 'too fast');
  log.note('frames', '10.0.0.2', 'too fast');
  advance(999);
  log.sweep();
  assert.equal(lines.length, 2, 'still within the episode (quiet for 999 ms)');
  advance(1);
  log.sweep();
  assert.deepEqual(pick(lines.slice(2), 'level', 'msg', 'limit', 'client', 'refused', 'overMs'), [
    [40, 'episode ended', 'frames', '10.0.0.1', 2, 300],
  ]);
  assert.equal(log.size, 0, 'both episodes ended (10.0.0.2 had no repeats: no line)');
});

test('an event after quietMs starts a new episode even before the sweep, ending the old one first', () => {
  const { log, lines, advance } = setup();
  log.note('', '10.0.0.1', 'refused');
  log.note('', '10.0.0.1', 'refused');
  advance(1_000);
  log.note('', '10.0.0.1', 'refused');
  assert.deepEqual(pick(lines, 'msg', 'client', 'refused'), [
    ['refused', '10.0.0.1', undefined],
    ['episode ended', '10.0.0.1', 2],
    ['refused', '10.0.0.1', undefined],
  ]);
  assert.equal(lines[0]!.code, undefined, 'no scope field unless one is named');
});

test('keys are scope and client: the same client in another scope is its own episode', () => {
  const { log, lines } = setup({ scopeField: 'code' });
  log.note('a', '10.0.0.1', 'refused');
  log.note('b', '10.0.0.1', 'refused');
  log.note('a', '10.0.0.1', 'refused');
  assert.deepEqual(pick(lines, 'code', 'client'), [
    ['a', '10.0.0.1'],
    ['b', '10.0.0.1'],
  ]);
});

test('keys followed at once are bounded: beyond maxKeys, clients of a scope are grouped under *', () => {
  const { log, lines, advance } = setup({ maxKeys: 3, scopeField: 'limit' });
  for (let i = 0; i < 100; i++) log.note('conns', `10.0.1.${i}`, 'too many');
  log.note('frames', '10.0.2.1', 'too fast');
  assert.deepEqual(pick(lines, 'limit', 'client'), [
    ['conns', '10.0.1.0'],
    ['conns', '10.0.1.1'],
    ['conns', '10.0.1.2'],
    ['conns', '*'],
    ['frames', '*'],
  ]);
  assert.equal(log.size, 5, 'the keys plus one group per scope');
  advance(1_000);
  log.sweep();
  assert.deepEqual(pick(lines.slice(5), 'limit', 'client', 'refused'), [['conns', '*', 97]]);
  // Room again: a client is named once more.
  log.note('conns', '10.0.1.50', 'too many');
  assert.equal(lines.at(-1)!.client, '10.0.1.50');
});

test('lines are capped per second over all keys; events beyond are still followed, and the cap resets each second', () => {
  const { log, lines, advance } = setup({ maxLinesPerSecond: 5, maxKeys: 1_000 });
  for (let i = 0; i < 50; i++) log.note('', `10.0.3.${i}`, 'refused');
  assert.equal(lines.length, 5);
  assert.equal(log.size, 50, 'an episode whose line was dropped is still an episode: its repeats stay silent');
  log.note('', '10.0.3.49', 'refused');
  advance(1_000);
  log.sweep();
  log.note('', '10.0.4.1', 'refused');
  assert.equal(lines.length, 5 + 2, 'a new second: the summary of 10.0.3.49 and the new client');
  assert.deepEqual(pick(lines.slice(5), 'msg', 'client'), [
    ['episode ended', '10.0.3.49'],
    ['refused', '10.0.4.1'],
  ]);
});

test('the sweep runs by itself on a timer while episodes are open', async () => {
  const lines: Line[] = [];
  const log = new EpisodeLog({
    logger: createLogger({ level: 'debug', sink: (l) => lines.push(JSON.parse(l) as Line) }),
    summary: 'episode ended',
    quietMs: 20,
  });
  log.note('', '10.0.0.1', 'refused');
  log.note('', '10.0.0.1', 'refused');
  const deadline = Date.now() + 5_000;
  while (log.size > 0 && Date.now() < deadline) await sleep(10);
  assert.deepEqual(pick(lines, 'msg', 'refused'), [
    ['refused', undefined],
    ['episode ended', 2],
  ]);
});
