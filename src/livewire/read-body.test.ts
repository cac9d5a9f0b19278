import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { readBody } from './read-body.js';

describe('readBody', () => {
  it('hands every piece in order and resolves at the end', async () => {
    const seen: string[] = [];
    await readBody(Readable.from([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]), (p) => {
      seen.push(p.toString());
      return undefined;
    });
    assert.deepEqual(seen, ['a', 'b', 'c']);
  });

  it('reads no further while a piece is pending', async () => {
    const body = new PassThrough();
    let release!: () => void;
    const seen: string[] = [];
    const done = readBody(body, (p) => {
      seen.push(p.toString());
      return seen.length === 1 ? new Promise<void>((r) => (release = r)) : undefined;
    });
    body.write('one');
    await new Promise((r) => setImmediate(r));
    body.write('two');
    body.end();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ['one']);
    assert.equal(body.isPaused(), true);
    release();
    await done;
    assert.deepEqual(seen, ['one', 'two']);
  });

  it('resolves only once the last piece is done, though the stream ended and closed meanwhile', async () => {
    let release!: () => void;
    let released = false;
    const done = readBody(Readable.from([Buffer.from('last')]), () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 10));
    let settled = false;
    void done.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    released = true;
    release();
    await done;
    assert.equal(released, true);
  });

  it('rejects with what the callback throws or rejects with', async () => {
    const boom = new Error('boom');
    await assert.rejects(
      readBody(Readable.from([Buffer.from('a')]), () => {
        throw boom;
      }),
      boom,
    );
    await assert.rejects(
      readBody(Readable.from([Buffer.from('a')]), () => Promise.reject(boom)),
      boom,
    );
  });

  it("rejects with the stream's error, and when it closes before its end", async () => {
    const failing = new PassThrough();
    const failed = readBody(failing, () => undefined);
    failing.destroy(new Error('cut off'));
    await assert.rejects(failed, /cut off/);

    const closing = new PassThrough();
    const closed = readBody(closing, () => undefined);
    closing.write('part');
    closing.destroy();
    await assert.rejects(closed, { code: 'ERR_STREAM_PREMATURE_CLOSE' });

    const gone = new PassThrough();
    gone.destroy();
    await assert.rejects(
      readBody(gone, () => undefined),
      { code: 'ERR_STREAM_PREMATURE_CLOSE' },
    );
  });
});
