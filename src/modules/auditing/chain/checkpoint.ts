import { sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * A signed statement "the chain's entry `seq` has hash `hash`", made at `timestamp` with the
 * key `keyId`. The signature (Ed25519, base64url) covers the RFC 8785 form of the four
 * fields, so anyone with the public key can check it with any JCS implementation.
 */
export interface Checkpoint {
  seq: string;
  /** Hex. */
  hash: string;
  /** UTC ISO-8601 with microseconds. */
  timestamp: string;
  keyId: string;
  /** base64url. */
  signature: string;
}

export type UnsignedCheckpoint = Omit<Checkpoint, 'signature'>;

export function checkpointPayload(c: UnsignedCheckpoint): Buffer {
  return Buffer.from(
    canonicalize({ seq: c.seq, hash: c.hash, timestamp: c.timestamp, keyId: c.keyId }) as string,
  );
}

export function signCheckpoint(c: UnsignedCheckpoint, privateKey: KeyObject): Checkpoint {
  const signature = sign(null, checkpointPayload(c), privateKey).toString('base64url');
  return { seq: c.seq, hash: c.hash, timestamp: c.timestamp, keyId: c.keyId, signature };
}

/** Why a checkpoint's signature does not hold, or null when it does. */
export function checkpointSignatureProblem(
  c: Checkpoint,
  trusted: ReadonlyMap<string, KeyObject>,
): string | null {
  const key = trusted.get(c.keyId);
  if (!key) return `checkpoint ${c.seq} is signed with an unknown key ${c.keyId}`;
  const ok = verify(null, checkpointPayload(c), key, Buffer.from(c.signature, 'base64url'));
  return ok ? null : `checkpoint ${c.seq} has an invalid signature`;
}

/** A checkpoint line of the checkpoint file, or of an NDJSON export (`type: "checkpoint"`). */
export function parseCheckpoint(value: unknown): Checkpoint | null {
  if (typeof value !== 'object' || value === null) return null;
  const c = value as Record<string, unknown>;
  const fields = ['seq', 'hash', 'timestamp', 'keyId', 'signature'] as const;
  if (!fields.every((f) => typeof c[f] === 'string')) return null;
  return {
    seq: c.seq as string,
    hash: c.hash as string,
    timestamp: c.timestamp as string,
    keyId: c.keyId as string,
    signature: c.signature as string,
  };
}
