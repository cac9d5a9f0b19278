/**
 * The mesh wire format: length-prefixed binary frames on one TCP connection per pair of nodes.
 *
 *   uint32 BE  length of what follows (type + subject length + subject + payload)
 *   uint8      frame type (FrameType)
 *   uint16 BE  subject length in bytes
 *   ...        subject (UTF-8)
 *   ...        payload (opaque bytes; the rest of the frame)
 *
 * Which frames a connection may carry depends on the protocol version its handshake settled
 * (mesh-handshake.ts); a frame the version does not have is a protocol breach, never guessed at.
 *
 * A frame whose length exceeds the reader's limit is refused as soon as its length is read, so
 * an oversized frame is never buffered.
 */

export const FrameType = {
  /** Handshake, first frame each way: JSON `{ v, max?, id, nonce }` (mesh-handshake.ts). */
  HELLO: 1,
  /** Handshake, second frame each way: the proof of the shared secret (32 bytes). */
  AUTH: 2,
  /** From the pair's leader only: "this connection carries our traffic" (see mesh.ts). */
  USE: 3,
  /** "Forget what I subscribed to; the SUB frames that follow are all of it." */
  RESET: 4,
  SUB: 5,
  UNSUB: 6,
  /** A publication: subject and payload. */
  MSG: 7,
  /** Keeps an idle connection proven alive. Version 1: carries nothing; version 2: the sender's clock (8 bytes). */
  PING: 8,
  /** Version 2 only: the answer to a PING, with its bytes (the sender measures the round trip). */
  PONG: 9,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const TYPE_NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, type]) => [type, name]));

/** Human name of a frame type, for logs. */
export function frameTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `unknown type ${type}`;
}

const LENGTH_BYTES = 4;
const HEADER_BYTES = LENGTH_BYTES + 1 + 2;
/** Largest subject, in UTF-8 bytes (its length field is 16 bits). */
export const MAX_SUBJECT_BYTES = 0xffff;

export interface Frame {
  type: number;
  subject: string;
  /** A view of the received bytes, not a copy. */
  payload: Buffer;
}

/** The peer broke the wire format; the connection cannot continue. `code` is stable. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: 'FRAME_TOO_LARGE' | 'FRAME_MALFORMED',
    message: string,
  ) {
    super(message);
  }
}

/** Throws a TypeError for a subject that cannot be framed (empty, or over 65,535 UTF-8 bytes). */
export function assertSubject(subject: string): void {
  if (subject === '' || Buffer.byteLength(subject) > MAX_SUBJECT_BYTES) {
    throw new TypeError(`invalid mesh subject: must be 1 to ${MAX_SUBJECT_BYTES} UTF-8 bytes`);
  }
}

/** The frame's length field for this subject and payload (what a reader's limit applies to). */
export function frameBytes(subject: string, payload: Buffer): number {
  return HEADER_BYTES - LENGTH_BYTES + Buffer.byteLength(subject) + payload.length;
}

/** One frame in one buffer, ready to be written to any number of connections. */
export function encodeFrame(type: FrameType, subject = '', payload?: Buffer): Buffer {
  const subjectBytes = Buffer.byteLength(subject);
  const payloadBytes = payload?.length ?? 0;
  const frame = Buffer.allocUnsafe(HEADER_BYTES + subjectBytes + payloadBytes);
  frame.writeUInt32BE(frame.length - LENGTH_BYTES, 0);
  frame[LENGTH_BYTES] = type;
  frame.writeUInt16BE(subjectBytes, LENGTH_BYTES + 1);
  frame.write(subject, HEADER_BYTES, 'utf8');
  payload?.copy(frame, HEADER_BYTES + subjectBytes);
  return frame;
}

/**
 * Splits a byte stream into frames. Bytes are kept as received and joined only once a whole
 * frame is there, so a large frame arriving in many reads is copied once, not once per read.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** `maxFrameBytes` bounds the length field; it may be raised later (after the handshake). */
  constructor(public maxFrameBytes: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame, or null until more bytes arrive. Throws a FrameError. */
  next(): Frame | null {
    if (this.buffered < LENGTH_BYTES) return null;
    if (this.chunks[0]!.length < LENGTH_BYTES) this.join();
    const length = this.chunks[0]!.readUInt32BE(0);
    if (length > this.maxFrameBytes) {
      throw new FrameError('FRAME_TOO_LARGE', `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
    }
    if (length < HEADER_BYTES - LENGTH_BYTES)
      throw new FrameError('FRAME_MALFORMED', `frame of ${length} bytes is too short`);
    const total = LENGTH_BYTES + length;
    if (this.buffered < total) return null;
    if (this.chunks[0]!.length < total) this.join();
    const first = this.chunks[0]!;
    const frame = first.subarray(0, total);
    if (first.length === total) this.chunks.shift();
    else this.chunks[0] = first.subarray(total);
    this.buffered -= total;

    const subjectEnd = HEADER_BYTES + frame.readUInt16BE(LENGTH_BYTES + 1);
    if (subjectEnd > total) throw new FrameError('FRAME_MALFORMED', 'subject length exceeds the frame');
    return {
      type: frame[LENGTH_BYTES]!,
      subject: frame.toString('utf8', HEADER_BYTES, subjectEnd),
      payload: frame.subarray(subjectEnd),
    };
  }

  private join(): void {
    this.chunks = [Buffer.concat(this.chunks, this.buffered)];
  }
}
