import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeExpositions } from './metrics.js';

describe('mergeExpositions', () => {
  it('labels every series with its worker and keeps one HELP/TYPE per family, in first-seen order', () => {
    const w0 = [
      '# HELP wm_connections Open connections',
      '# TYPE wm_connections gauge',
      'wm_connections{app="a"} 3',
      '# HELP wm_up Up',
      '# TYPE wm_up gauge',
      'wm_up 1',
      '',
    ].join('\n');
    const w1 = [
      '# HELP wm_connections Open connections',
      '# TYPE wm_connections gauge',
      'wm_connections{app="a"} 4',
      'wm_connections{app="b",x="1,2"} 1',
      '# HELP wm_lat Latency',
      '# TYPE wm_lat histogram',
      'wm_lat_bucket{le="0.1"} 2',
      'wm_lat_sum 0.3',
      '',
    ].join('\n');
    assert.equal(
      mergeExpositions(
        new Map([
          [1, w1],
          [0, w0],
        ]),
      ),
      [
        '# HELP wm_connections Open connections',
        '# TYPE wm_connections gauge',
        'wm_connections{app="a",worker="0"} 3',
        'wm_connections{app="a",worker="1"} 4',
        'wm_connections{app="b",x="1,2",worker="1"} 1',
        '# HELP wm_up Up',
        '# TYPE wm_up gauge',
        'wm_up{worker="0"} 1',
        '# HELP wm_lat Latency',
        '# TYPE wm_lat histogram',
        'wm_lat_bucket{le="0.1",worker="1"} 2',
        'wm_lat_sum{worker="1"} 0.3',
        '',
      ].join('\n'),
    );
  });

  it('an empty set of workers renders an empty exposition', () => {
    assert.equal(mergeExpositions(new Map()), '\n');
  });
});
