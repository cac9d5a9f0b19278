import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { queryParam } from './query.js';

describe('queryParam', () => {
  it('answers as URLSearchParams.get does', () => {
    const pieces = [
      'protocol',
      'protocol=7',
      '=',
      '&',
      'client=js',
      'version=8.4.0',
      'flash=false',
      '%37',
      '+',
      '?',
      'é',
      'protocol=',
      'proto',
      '7',
    ];
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const cases = [
      '',
      'protocol=7&client=js&version=8.4.0&flash=false',
      'protocol=7',
      'client=js&protocol=6',
      'protocol',
      'protocol=7&protocol=5',
    ];
    for (let i = 0; i < 5000; i++) {
      let q = '';
      for (let j = rand(8); j > 0; j--) q += pieces[rand(pieces.length)];
      cases.push(q);
    }
    for (const q of cases)
      assert.equal(queryParam(q, 'protocol'), new URLSearchParams(q).get('protocol'), JSON.stringify(q));
  });
});
