/**
 * Reads an upstream response body piece by piece, as `for await` over the stream does, without its
 * per-piece promises: a Livewire answer usually arrives with its head, in one piece, and is read
 * in one turn. Pausing is kept: while what `each` returned is pending, the stream is paused (no
 * more is read from the upstream).
 */
import type { Readable } from 'node:stream';

/**
 * Hands every piece of `body` to `each` in order, until its end. Rejects with what `each` threw or
 * rejected with, with the stream's error, or with ERR_STREAM_PREMATURE_CLOSE when it closed before
 * its end (as `for await` does). The caller destroys the stream when it rejects.
 */
export function readBody(body: Readable, each: (piece: Buffer) => Promise<void> | undefined): Promise<void> {
  // Destroyed already (aborted, cut off): its events have gone, as `for await` finds.
  if (body.destroyed) return Promise.reject(body.errored ?? prematureClose());
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    /** What the last piece's `each` returned, until it settles: the end waits for it too. */
    let pending: Promise<void> | undefined;
    const onData = (piece: Buffer): void => {
      try {
        pending = each(piece);
      } catch (err) {
        settle(err);
        return;
      }
      if (pending === undefined) return;
      body.pause();
      pending.then(() => {
        pending = undefined;
        if (!settled) body.resume();
      }, settle);
    };
    // The stream may end while the last piece is pending (its end is already known).
    let ended = false;
    const onEnd = (): void => {
      ended = true;
      if (pending === undefined) settle();
      else pending.then(() => settle(), settle);
    };
    const onError = (err: Error): void => settle(err);
    const onClose = (): void => {
      if (!ended) settle(prematureClose());
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}
