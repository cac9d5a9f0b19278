/**
 * The mesh handshake: who is at the other end, and proof that it knows the shared secret.
 *
 * 1. Each side sends HELLO `{ v: 1, id, nonce }`: its protocol version, the random id of this
 *    backend instance (a restarted node has a new one) and a fresh random nonce.
 * 2. Each side answers the other's nonce with AUTH: HMAC-SHA256(secret, context), where the
 *    context binds the challenge to this very exchange: a label, the prover's role (dialer or
 *    acceptor), both nonces and both ids. A plain HMAC of the nonce could be reflected: a stranger
 *    could open a second connection, send our own nonce as its challenge and replay our answer.
 *    With the role and ids inside, no answer we give is valid anywhere but where we gave it.
 * 3. The dialer answers first; the acceptor answers only once the dialer's answer checks out. So
 *    a stranger connecting to a node learns nothing to guess the secret from offline: a node
 *    shows a proof only to an address it was configured to dial, or to a node that proved first.
 * 4. Nothing but HELLO and AUTH is accepted before the other side's proof has been checked.
 *
 * The secret authenticates; it does not encrypt. Run the mesh on a private network.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const PROTOCOL_VERSION = 1;

export type Role = 'dialer' | 'acceptor';

export interface Hello {
  v: number;
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

export function newHello(id: string): Hello {
  return { v: PROTOCOL_VERSION, id, nonce: randomBytes(32).toString('hex') };
}

export function encodeHello(hello: Hello): Buffer {
  return Buffer.from(JSON.stringify({ v: hello.v, id: hello.id, nonce: hello.nonce }));
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
  if (typeof m.v === 'number' && m.v !== PROTOCOL_VERSION) {
    throw new HandshakeError('HANDSHAKE_VERSION', `peer speaks mesh protocol version ${m.v}; this node speaks ${PROTOCOL_VERSION}`);
  }
  if (m.v !== PROTOCOL_VERSION || typeof m.id !== 'string' || !ID.test(m.id) || typeof m.nonce !== 'string' || !NONCE.test(m.nonce)) {
    throw new HandshakeError('HANDSHAKE_MALFORMED', 'HELLO must be { v: 1, id: 32 hex digits, nonce: 64 hex digits }');
  }
  return { v: m.v, id: m.id, nonce: m.nonce };
}

/** The AUTH payload `prover` sends to answer `verifier`'s challenge. */
export function proof(secret: string, proverRole: Role, prover: Hello, verifier: Hello): Buffer {
  return createHmac('sha256', secret)
    .update(`${LABEL}\n${proverRole}\n${verifier.nonce}\n${prover.nonce}\n${prover.id}\n${verifier.id}`)
    .digest();
}

/** Checks the other side's AUTH (in constant time); throws a HandshakeError if it is wrong. */
export function verifyProof(secret: string, theirRole: Role, theirs: Hello, mine: Hello, answer: Buffer): void {
  const expected = proof(secret, theirRole, theirs, mine);
  if (answer.length !== expected.length || !timingSafeEqual(answer, expected)) {
    throw new HandshakeError('HANDSHAKE_AUTH', 'peer failed authentication: is cluster.mesh.secret the same on every node?');
  }
}
