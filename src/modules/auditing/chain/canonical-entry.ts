import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { jcs, jcsString } from './jcs';

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

/**
 * `canonicalize(canonicalObject(entry))`, several times faster: version 1's members are
 * written in their RFC 8785 order (UTF-16 code units; all ASCII here) with their names
 * already serialized, and only values that are not strings (`details`, the roles, the status)
 * go through the general algorithm ({@link jcs}). Property tests hold the two equal on
 * arbitrary entries, whatever the types of their values.
 */
export function canonicalJson(entry: ChainedFields, version = HASH_VERSION): string {
  if (version !== 1) throw new Error(`Unknown hash version ${version}`);
  try {
    return fastV1(entry as unknown as Record<keyof ChainedFields, unknown>);
  } catch (error) {
    // A member that JSON drops (a function, a symbol): the general algorithm decides.
    if (error === NOT_JSON) return canonicalize(canonicalObject(entry, version)) as string;
    throw error;
  }
}

const NOT_JSON = new Error('not a JSON value');

function fastV1(e: Record<keyof ChainedFields, unknown>): string {
  return (
    '{"actionType":' +
    value(e.actionType) +
    ',"actorId":' +
    value(e.actorId) +
    ',"actorRoles":' +
    value(e.actorRoles) +
    ',"correlationId":' +
    value(e.correlationId) +
    ',"details":' +
    value(e.details) +
    ',"entityId":' +
    value(e.entityId) +
    ',"entityType":' +
    value(e.entityType) +
    ',"eventId":' +
    value(e.eventId) +
    ',"hashVersion":1,"id":' +
    value(e.id) +
    ',"ip":' +
    value(e.ip) +
    ',"method":' +
    value(e.method) +
    ',"outcome":' +
    value(e.outcome) +
    ',"path":' +
    value(e.path) +
    ',"requestId":' +
    value(e.requestId) +
    ',"seq":' +
    value(e.seq) +
    ',"statusCode":' +
    value(e.statusCode) +
    ',"timestamp":' +
    value(e.timestamp) +
    ',"userAgent":' +
    value(e.userAgent) +
    '}'
  );
}

/** A member's value: absent is null (as in {@link canonicalObject}). */
function value(v: unknown): string {
  if (typeof v === 'string') return jcsString(v);
  if (v === null || v === undefined) return 'null';
  const json = jcs(v) as string | undefined;
  if (json === undefined) throw NOT_JSON;
  return json;
}

/**
 * An entry as the verifier reads it from the database: each column as text (NULL: null), in
 * this order: id, event_id, timestamp (UTC, microseconds), actor_id, actor_roles (a JSON
 * array), action_type, entity_type, entity_id, outcome, status_code (decimal), details (JSON),
 * request_id, correlation_id, ip, user_agent, method, path.
 */
export type EntryColumns = readonly (string | null)[];

/**
 * `canonicalJson` of the entry these columns hold (`seq` its position), without building the
 * entry: the same text, member for member (a property test holds the two equal).
 */
export function canonicalJsonOfColumns(
  seq: string,
  c: EntryColumns,
  version = HASH_VERSION,
): string {
  if (version !== 1) throw new Error(`Unknown hash version ${version}`);
  return (
    '{"actionType":' +
    text(c[5]) +
    ',"actorId":' +
    text(c[3]) +
    ',"actorRoles":' +
    json(c[4]) +
    ',"correlationId":' +
    text(c[12]) +
    ',"details":' +
    json(c[10]) +
    ',"entityId":' +
    text(c[7]) +
    ',"entityType":' +
    text(c[6]) +
    ',"eventId":' +
    text(c[1]) +
    ',"hashVersion":1,"id":' +
    text(c[0]) +
    ',"ip":' +
    text(c[13]) +
    ',"method":' +
    text(c[15]) +
    ',"outcome":' +
    text(c[8]) +
    ',"path":' +
    text(c[16]) +
    ',"requestId":' +
    text(c[11]) +
    ',"seq":' +
    jcsString(seq) +
    ',"statusCode":' +
    (c[9] === null ? 'null' : jcs(Number(c[9]))) +
    ',"timestamp":' +
    text(c[2]) +
    ',"userAgent":' +
    text(c[14]) +
    '}'
  );
}

const text = (v: string | null | undefined): string => (v == null ? 'null' : jcsString(v));
const json = (v: string | null | undefined): string => (v == null ? 'null' : jcs(JSON.parse(v)));

// One-shot hashing (`crypto.hash`): several times cheaper per call than createHash().

export function entryDigest(entry: ChainedFields, version = HASH_VERSION): Buffer {
  return hash('sha256', canonicalJson(entry, version), 'buffer');
}

export function chainHash(prevHash: Buffer, digest: Buffer): Buffer {
  return hash('sha256', Buffer.concat([prevHash, digest], 64), 'buffer');
}

export function digestOfColumns(
  seq: string,
  columns: EntryColumns,
  version = HASH_VERSION,
): Buffer {
  return hash('sha256', canonicalJsonOfColumns(seq, columns, version), 'buffer');
}

/**
 * Folds the chain link by link without allocating: `prevHash || digest` lives in one buffer,
 * and each hash comes out as hex, the form the stored hashes are compared in.
 */
export class ChainHasher {
  private readonly pair = Buffer.alloc(64);

  constructor(prevHash: Buffer) {
    prevHash.copy(this.pair, 0, 0, 32);
  }

  /** The next link's hash, hex. Call {@link advance} with it once it held. */
  next(digest: Buffer): string {
    digest.copy(this.pair, 32, 0, 32);
    return hash('sha256', this.pair, 'hex');
  }

  advance(hashHex: string): void {
    this.pair.write(hashHex, 0, 'hex');
  }

  /** The current previous hash. */
  get prev(): Buffer {
    return Buffer.from(this.pair.subarray(0, 32));
  }
}
