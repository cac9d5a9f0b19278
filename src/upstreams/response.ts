/**
 * One upstream request as an undici dispatch handler: the head resolves `head`, body pieces go
 * straight to the reader (no Readable, no per-piece promise), and the request's connection slot
 * is released when it ends, fails or is aborted. While the reader's last piece is pending (the
 * client's socket has no room), undici is paused: nothing more is read from the upstream.
 */
import { util, type Dispatcher } from 'undici';

export type UpstreamHeaders = Record<string, string | string[]>;

/** What a reader does with a piece: undefined when done with it now, else a promise (reading pauses). */
export type PieceReader = (piece: Buffer) => Promise<void> | undefined;

/** A redirect's body is read and dropped up to this much; a longer one closes the connection. */
const DUMP_LIMIT = 128 * 1024;

export class UpstreamResponse implements Dispatcher.DispatchHandler {
  statusCode = 0;
  statusText = '';
  headers: UpstreamHeaders = {};
  /** Resolves with this once the head has arrived; rejects with the request's error before that. */
  readonly head: Promise<UpstreamResponse>;
  private resolveHead!: (r: UpstreamResponse) => void;
  private rejectHead!: (err: Error) => void;
  private abortRequest: ((err?: Error) => void) | undefined;
  /** The reason of an abort asked for before undici connected the request. */
  private abortReason: Error | undefined;
  private resumeRequest: (() => void) | undefined;
  private headed = false;
  /** Undefined while running; then null (ended) or its error. */
  private outcome: Error | null | undefined;
  /** Pieces that arrived before a reader came (one at most: undici pauses after it). */
  private queued: Buffer[] = [];
  private reader: PieceReader | undefined;
  private pending = false;
  private resolveRead: (() => void) | undefined;
  private rejectRead: ((err: Error) => void) | undefined;
  private released = false;

  constructor(private readonly release: () => void) {
    this.head = new Promise((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
  }

  /** Aborts the request (before or after its head); what waits fails with `reason`. */
  abort(reason: Error): void {
    if (this.outcome !== undefined) return;
    if (this.abortRequest) this.abortRequest(reason);
    else this.abortReason ??= reason;
  }

  /** Stops reading and frees the connection (the body is not wanted). */
  destroy(): void {
    this.abort(Object.assign(new Error('Response body destroyed'), { code: 'UND_ERR_ABORTED', name: 'AbortError' }));
  }

  /**
   * Hands every piece of the body to `each` in order, until its end. Rejects with what `each`
   * threw or rejected with (the request is then aborted), or with the request's error. Once only.
   */
  read(each: PieceReader): Promise<void> {
    if (this.reader) return Promise.reject(new Error('the upstream body is read once'));
    this.reader = each;
    return new Promise<void>((resolve, reject) => {
      this.resolveRead = resolve;
      this.rejectRead = reject;
      this.drain();
    });
  }

  /** Reads the body to its end and drops it (a redirect's); a long one is cut off instead. */
  async dump(): Promise<void> {
    let size = 0;
    try {
      await this.read((piece) => {
        size += piece.length;
        if (size > DUMP_LIMIT) throw new Error('redirect body over the dump limit');
        return undefined;
      });
    } catch {
      // Cut off or failed: its connection is closed, nothing else depends on it.
    }
  }

  // undici's handler ------------------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
    if (this.abortReason) abort(this.abortReason);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    this.statusCode = statusCode;
    this.statusText = statusText;
    this.headers = util.parseHeaders(rawHeaders);
    this.resumeRequest = resume;
    this.headed = true;
    this.resolveHead(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.reader === undefined || this.pending || this.queued.length > 0) {
      this.queued.push(chunk);
      return false;
    }
    return this.give(chunk);
  }

  onComplete(): void {
    this.outcome = null;
    this.free();
    this.finish();
  }

  onError(err: Error): void {
    this.outcome = err;
    this.free();
    if (!this.headed) this.rejectHead(err);
    else this.finish();
  }

  // -----------------------------------------------------------------------------------------------

  /** One piece to the reader; false when undici is to pause (the reader's piece is pending, or it failed). */
  private give(chunk: Buffer): boolean {
    let result: Promise<void> | undefined;
    try {
      result = this.reader!(chunk);
    } catch (err) {
      this.fail(err);
      return false;
    }
    if (result === undefined) return true;
    this.pending = true;
    result.then(
      () => {
        this.pending = false;
        this.drain();
      },
      (err: unknown) => this.fail(err),
    );
    return false;
  }

  /** Hands the queued pieces over, then resumes undici or settles the reader when the body is done. */
  private drain(): void {
    while (this.queued.length > 0 && !this.pending && this.rejectRead) {
      if (!this.give(this.queued.shift()!)) {
        if (!this.pending) return; // the reader failed
      }
    }
    if (this.pending || !this.rejectRead) return;
    if (this.outcome !== undefined) this.finish();
    else this.resumeRequest?.();
  }

  /** Settles the reader once the body is done and every piece has been handed over. */
  private finish(): void {
    if (!this.rejectRead || this.pending) return;
    const outcome = this.outcome;
    if (outcome === undefined) return;
    if (outcome === null && this.queued.length > 0) {
      this.drain();
      return;
    }
    const resolve = this.resolveRead!;
    const reject = this.rejectRead;
    this.resolveRead = this.rejectRead = undefined;
    if (outcome === null) resolve();
    else reject(outcome);
  }

  /** The reader threw or rejected: that is the read's error, and the request is aborted. */
  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.pending = false;
    this.queued = [];
    const reject = this.rejectRead;
    this.resolveRead = this.rejectRead = undefined;
    this.abort(error);
    reject?.(error);
  }

  private free(): void {
    if (this.released) return;
    this.released = true;
    this.release();
  }
}
