import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasReusePort, listenOptions } from './ws-listen.js';

describe('ws transport listen options', () => {
  it('knows which Node.js versions have reusePort (22.12+, 23.1+, on Linux)', () => {
    for (const v of ['20.20.2', '22.11.0', '23.0.0']) assert.equal(hasReusePort(v, 'linux'), false, v);
    for (const v of ['22.12.0', '22.21.1', '23.1.0', '24.0.0', '26.1.0'])
      assert.equal(hasReusePort(v, 'linux'), true, v);
    assert.equal(hasReusePort('24.0.0', 'darwin'), false);
  });

  it('a shared port binds in the worker with SO_REUSEPORT where it can, else through the cluster primary', () => {
    assert.deepEqual(listenOptions(6001, '0.0.0.0', true, true), {
      port: 6001,
      host: '0.0.0.0',
      exclusive: true,
      reusePort: true,
    });
    assert.deepEqual(listenOptions(6001, '0.0.0.0', true, false), { port: 6001, host: '0.0.0.0', exclusive: false });
    assert.deepEqual(listenOptions(6001, '::', false, true), { port: 6001, host: '::', exclusive: true });
  });
});
