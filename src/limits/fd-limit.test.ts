import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FALLBACK_OPEN_FILES,
  connectionsFor,
  parseOpenFileLimit,
  readOpenFileLimit,
  resolveMaxConnections,
} from './fd-limit.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                1048576              files
Max locked memory         8388608              8388608              bytes
`;

test('parses the soft open-file limit of /proc/self/limits', () => {
  assert.equal(parseOpenFileLimit(LIMITS), 20_000);
  assert.equal(parseOpenFileLimit(LIMITS.replace('20000 ', 'unlimited ')), null);
  assert.equal(parseOpenFileLimit('garbage'), null);
});

test('headroom: 5 % of the limit, at least 256 descriptors', () => {
  assert.equal(connectionsFor(1024), 768);
  assert.equal(connectionsFor(20_000), 19_000);
  assert.equal(connectionsFor(100), 1);
});

test('auto reads the limit, falls back to a fixed default, and a number is taken as is', () => {
  assert.deepEqual(
    resolveMaxConnections('auto', () => LIMITS),
    { maxConnections: 19_000, openFiles: 20_000, source: 'RLIMIT_NOFILE' },
  );
  const fallback = resolveMaxConnections('auto', () => {
    throw new Error('ENOENT');
  });
  assert.deepEqual(fallback, {
    maxConnections: connectionsFor(FALLBACK_OPEN_FILES),
    openFiles: FALLBACK_OPEN_FILES,
    source: 'default',
  });
  assert.deepEqual(resolveMaxConnections(0), { maxConnections: 0, source: 'config' });
  assert.deepEqual(resolveMaxConnections(500), { maxConnections: 500, source: 'config' });
});

test('on Linux the real limit is read', { skip: process.platform !== 'linux' }, () => {
  const { limit, source } = readOpenFileLimit();
  assert.equal(source, 'RLIMIT_NOFILE');
  assert.ok(limit > 0);
});
