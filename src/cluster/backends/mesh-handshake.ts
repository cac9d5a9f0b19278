/**
 * The mesh handshake: who is at the other end, and proof that it knows the shared secret.
 *
 * 1. Each side sends HELLO `{ v, max, id, nonce }`: the lowest and highest mesh protocol
 *    versions it speaks, the random id of this backend instance (a restarted node has a new one)
 *    and a fresh random nonce. A connection speaks the highest version both sides speak; a peer
 *    whose range does not meet ours is refused (HANDSHAKE_VERSION, logged), never misread.
 *    Version 1 builds send `{ v: 1, id, nonce }` (no `max`: they speak 1 only) and refuse any
 *    other `v`, so this build keeps `v: 1` while it still speaks 1: old and new meet during a
 *    rolling deploy and talk version 1 (see VERSIONS below for what each version adds).
 * 2. Each side answers the other's nonce with AUTH: HMAC-SHA256(secret, context), where the
 *    context binds the challenge to this very exchange: a label, the prover's role (dialer or
 *    acceptor), both nonces and both ids. A plain HMAC of the nonce could be reflected: a stranger
 *    could open a second connection, send our own nonce as its challenge and replay our answer.
 *    With the role and ids inside, no answer we give is valid anywhere but where we gave it.
 *    When both sides sent `max`, both ranges are in the context too: a man in the middle who
 *    strips `max` to force version 1 makes the proofs disagree.
 * 3. The dialer answers first; the acceptor answers only once the dialer's answer checks out. So
 *    a stranger connecting to a node learns nothing to guess the secret from offline: a node
 *    shows a proof only to an address it was configured to dial, or to a node that proved first.
 * 4. Nothing but HELLO and AUTH is accepted before the other side's proof has been checked.
 *
 * The secret authenticates; it does not encrypt. Run the mesh on a private network.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Mesh protocol versions this build speaks.
 * - 1: the frames of mesh-frames.ts; PING carries nothing.
 * - 2: PING carries the sender's clock (8 bytes) and is answered by PONG with the same bytes:
 *   each node measures the round trip to every peer (status, regions bench). Sent every tick.
 */
export const MIN_VERSION = 1;
export const MAX_VERSION = 2;

export type Role = 'dialer' | 'acceptor';

export interface Hello {
  /** Lowest version spoken. */
  v: number;
  /** Highest version spoken; absent from version-1 builds (they speak `v` only). */
  max?: number;
  /** Random id of one backend instance (32 hex digits). */
  id: string;
  /** Random challenge for this connection (64 hex digits). */
  nonce: string;
}

/** The handshake failed; `code` is stable. */
export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  constructor(
    readonly code: 'HANDSHAKE_MALFORMED' | 'HANDSHAKE_VERSION' | 'HANDSHAKE_AUTH',
    message: string,
  ) {
    super(message);
  }
}

const ID = /^[0-9a-f]{32}$/;
const NONCE = /^[0-9a-f]{64}$/;
const LABEL = 'wiremesh-mesh/1';

export function newInstanceId(): string {
  return randomBytes(16).toString('hex');
}

/** Our HELLO; `range` narrows the versions offered (tests play older or newer builds with it). */
export function newHello(
  id: string,
  range: { min: number; max: number } = { min: MIN_VERSION, max: MAX_VERSION },
): Hello {
  const hello: Hello = { v: range.min, id, nonce: randomBytes(32).toString('hex') };
  if (range.max !== range.min) hello.max = range.max;
  return hello;
}

export function encodeHello(hello: Hello): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: hello.v,
      ...(hello.max === undefined ? {} : { max: hello.max }),
      id: hello.id,
      nonce: hello.nonce,
    }),
  );
}

/** The version a connection speaks: the highest both HELLOs offer; throws HANDSHAKE_VERSION if none. */
export function negotiate(mine: Hello, theirs: Hello): number {
  const version = Math.min(mine.max ?? mine.v, theirs.max ?? theirs.v);
  if (version < Math.max(mine.v, theirs.v)) {
    throw new HandshakeError(
      'HANDSHAKE_VERSION',
      `peer speaks mesh protocol versions ${range(theirs)}; this node speaks ${range(mine)}: upgrade the older node`,
    );
  }
  return version;
}

function range(h: Hello): string {
  const max = h.max ?? h.v;
  return max === h.v ? `${h.v}` : `${h.v} to ${max}`;
}

/** Parses the other side's HELLO; throws a HandshakeError naming the problem. */
export function decodeHello(payload: Buffer): Hello {
  let msg: unknown;
  try {
    msg = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new HandshakeError('HANDSHAKE_MALFORMED', 'HELLO is not JSON');
  }
  const m = (msg ?? {}) as Record<string, unknown>;
  const max = m.max === undefined ? m.v : m.max;
  if (
    typeof m.v !== 'number' ||
    !Number.isInteger(m.v) ||
    m.v < 1 ||
    typeof max !== 'number' ||
    !Number.isInteger(max) ||
    max < m.v
  ) {
    throw new HandshakeError(
      'HANDSHAKE_MALFORMED',
      'HELLO must be { v: 1, max?: version, id: 32 hex digits, nonce: 64 hex digits }',
    );
  }
  if (m.v > MAX_VERSION) {
    // A newer build that no longer speaks any version we do: say so, whatever else it sent.
    throw new HandshakeError(
      'HANDSHAKE_VERSION',
      `peer speaks mesh protocol versions ${m.v === max ? m.v : `${m.v} to ${max}`}; this node speaks ${MIN_VERSION} to ${MAX_VERSION}: upgrade this node`,
    );
  }
  if (typeof m.id !== 'string' || !ID.test(m.id) || typeof m.nonce !== 'string' || !NONCE.test(m.nonce)) {
    throw new HandshakeError(
      'HANDSHAKE_MALFORMED',
      'HELLO must be { v: 1, max?: version, id: 32 hex digits, nonce: 64 hex digits }',
    );
  }
  const hello: Hello = { v: m.v, id: m.id, nonce: m.nonce };
  if (m.max !== undefined) hello.max = max;
  return hello;
}

/** The AUTH payload `prover` sends to answer `verifier`'s challenge. */
export function proof(secret: string, proverRole: Role, prover: Hello, verifier: Hello): Buffer {
  const context = `${LABEL}\n${proverRole}\n${verifier.nonce}\n${prover.nonce}\n${prover.id}\n${verifier.id}`;
  // Version 1 peers know only the context above; when both sides offered a range, it is bound too.
  const ranges =
    prover.max !== undefined && verifier.max !== undefined
      ? `\n${prover.v}-${prover.max}\n${verifier.v}-${verifier.max}`
      : '';
  return createHmac('sha256', secret)
    .update(context + ranges)
    .digest();
}

/** Checks the other side's AUTH (in constant time); throws a HandshakeError if it is wrong. */
export function verifyProof(secret: string, theirRole: Role, theirs: Hello, mine: Hello, answer: Buffer): void {
  const expected = proof(secret, theirRole, theirs, mine);
  if (answer.length !== expected.length || !timingSafeEqual(answer, expected)) {
    throw new HandshakeError(
      'HANDSHAKE_AUTH',
      'peer failed authentication: is cluster.mesh.secret the same on every node?',
    );
  }
}
