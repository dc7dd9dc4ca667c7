import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * The canonical form of an entry and the chain's hash, shared by the sealer, the verifier,
 * the proof endpoint and the offline CLI (an outside auditor can rebuild both from this file
 * and RFC 8785 alone).
 *
 * Version 1 covers every field of an entry as the API returns it, plus its chain position
 * and the version itself:
 *
 *     digest = SHA-256(JCS({ hashVersion: 1, seq, id, eventId, timestamp, actorId, actorRoles,
 *                            actionType, entityType, entityId, outcome, statusCode, details,
 *                            requestId, correlationId, ip, userAgent, method, path }))
 *     hash   = SHA-256(prevHash || digest)        (prevHash of seq 1: 32 zero bytes)
 *
 * JCS is RFC 8785 (`canonicalize`). `seq` and `id` are decimal strings, `timestamp` is UTC
 * ISO-8601 with microseconds, absent values are `null`. A column added later gets a new
 * version that lists it; entries chained under version 1 keep being checked with version 1's
 * fields, so they verify forever.
 *
 * Chaining the entry's digest rather than its JSON lets a proof show that one entry leads
 * to a signed checkpoint with the digests of the entries after it, without their contents.
 */
export const HASH_VERSION = 1;
export const GENESIS_HASH = Buffer.alloc(32);

/** The fields of an entry that version 1 covers (what the API shows, `seq` included). */
export interface ChainedFields {
  seq: string;
  id: string;
  eventId: string;
  timestamp: string;
  actorId: string;
  actorRoles: string[];
  actionType: string;
  entityType: string;
  entityId: string;
  outcome: string;
  statusCode: number | null;
  details: Record<string, unknown> | null;
  requestId: string | null;
  correlationId: string | null;
  ip: string | null;
  userAgent: string | null;
  method: string | null;
  path: string | null;
}

const V1_FIELDS = [
  'seq',
  'id',
  'eventId',
  'timestamp',
  'actorId',
  'actorRoles',
  'actionType',
  'entityType',
  'entityId',
  'outcome',
  'statusCode',
  'details',
  'requestId',
  'correlationId',
  'ip',
  'userAgent',
  'method',
  'path',
] as const satisfies readonly (keyof ChainedFields)[];

/** The object that is canonicalized: exactly the version's fields (missing → null). */
export function canonicalObject(entry: ChainedFields, version = HASH_VERSION): object {
  if (version !== 1) throw new Error(`Unknown hash version ${version}`);
  const object: Record<string, unknown> = { hashVersion: version };
  for (const field of V1_FIELDS) object[field] = entry[field] ?? null;
  return object;
}

// Version 1's members in RFC 8785 order (UTF-16 code units; all ASCII here), with their JSON
// names already serialized: the fast path below writes them in this order.
const V1_MEMBERS = ['hashVersion', ...V1_FIELDS].sort().map((name) => ({
  name,
  prefix: `${JSON.stringify(name)}:`,
}));

/**
 * `canonicalize(canonicalObject(entry))`, several times faster: the top-level members are
 * known, so only `details` (free-form JSON) goes through the general algorithm. Strings,
 * numbers and string arrays serialize exactly as RFC 8785 says (ECMAScript `JSON.stringify`).
 * A property test holds the two equal on arbitrary entries.
 */
export function canonicalJson(entry: ChainedFields, version = HASH_VERSION): string {
  if (version !== 1) throw new Error(`Unknown hash version ${version}`);
  let out = '{';
  for (let i = 0; i < V1_MEMBERS.length; i++) {
    const { name, prefix } = V1_MEMBERS[i];
    if (i > 0) out += ',';
    out += prefix;
    if (name === 'hashVersion') out += '1';
    else if (name === 'details')
      out += entry.details == null ? 'null' : (canonicalize(entry.details) as string);
    else out += primitiveOrStrings(entry[name as keyof ChainedFields]);
  }
  return out + '}';
}

/** With the `u` flag a pair is one code point: this matches unpaired surrogates only. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function primitiveOrStrings(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (Array.isArray(value)) return canonicalize(value) as string;
  if (typeof value === 'string' && LONE_SURROGATE.test(value))
    throw new Error('Lone surrogate is not allowed');
  return JSON.stringify(value);
}

// One-shot hashing (`crypto.hash`): several times cheaper per call than createHash().

export function entryDigest(entry: ChainedFields, version = HASH_VERSION): Buffer {
  return hash('sha256', canonicalJson(entry, version), 'buffer');
}

export function chainHash(prevHash: Buffer, digest: Buffer): Buffer {
  return hash('sha256', Buffer.concat([prevHash, digest], 64), 'buffer');
}
