import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { jcs, jcsOfJsonText, jcsString } from './jcs';

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
    return fastV1(entry);
  } catch (error) {
    // A member that JSON drops (a function, a symbol): the general algorithm decides.
    if (error === NOT_JSON) return canonicalize(canonicalObject(entry, version)) as string;
    throw error;
  }
}

const NOT_JSON = new Error('not a JSON value');

function fastV1(e: ChainedFields): string {
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
 * this order: id, event_id, timestamp (UTC, microseconds), actor_id, action_type, entity_type,
 * entity_id, outcome, status_code (decimal), request_id, correlation_id, ip, user_agent,
 * method, path, then actor_roles (a JSON array) and details (JSON).
 */
export type EntryColumns = readonly (string | null)[];

/** How many of EntryColumns are plain text (all but the roles and the details, last). */
export const PLAIN_TEXT_COLUMNS = 15;

/**
 * `canonicalJson` of the entry these columns hold (`seq` its position), without building the
 * entry: the same text, member for member (a property test holds the two equal). `plain`: the
 * caller knows that no text column (the first PLAIN_TEXT_COLUMNS) holds anything JSON
 * escapes (`"`, `\\`, a control character) or a surrogate, so each is only quoted.
 */
export function canonicalJsonOfColumns(
  seq: string,
  c: EntryColumns,
  version = HASH_VERSION,
  plain = false,
): string {
  if (version !== 1) throw new Error(`Unknown hash version ${version}`);
  const t = plain ? quoted : text;
  return (
    '{"actionType":' +
    t(c[4]) +
    ',"actorId":' +
    t(c[3]) +
    ',"actorRoles":' +
    json(c[15]) +
    ',"correlationId":' +
    t(c[10]) +
    ',"details":' +
    json(c[16]) +
    ',"entityId":' +
    t(c[6]) +
    ',"entityType":' +
    t(c[5]) +
    ',"eventId":' +
    t(c[1]) +
    ',"hashVersion":1,"id":' +
    t(c[0]) +
    ',"ip":' +
    t(c[11]) +
    ',"method":' +
    t(c[13]) +
    ',"outcome":' +
    t(c[7]) +
    ',"path":' +
    t(c[14]) +
    ',"requestId":' +
    t(c[9]) +
    ',"seq":' +
    jcsString(seq) +
    ',"statusCode":' +
    (c[8] == null ? 'null' : jcs(Number(c[8]))) +
    ',"timestamp":' +
    t(c[2]) +
    ',"userAgent":' +
    t(c[12]) +
    '}'
  );
}

const text = (v: string | null | undefined): string => (v == null ? 'null' : jcsString(v));
const quoted = (v: string | null | undefined): string => (v == null ? 'null' : '"' + v + '"');
const json = (v: string | null | undefined): string => (v == null ? 'null' : jcsOfJsonText(v));

// One-shot hashing (`crypto.hash`, several times cheaper per call than createHash()), hex out:
// a Buffer out of `hash` is a fresh allocation that costs more than the hashing itself, while
// Buffer.from(hex) takes a slice of the shared pool.

export function entryDigest(entry: ChainedFields, version = HASH_VERSION): Buffer {
  return Buffer.from(hash('sha256', canonicalJson(entry, version), 'hex'), 'hex');
}

export function chainHash(prevHash: Buffer, digest: Buffer): Buffer {
  return Buffer.from(hash('sha256', Buffer.concat([prevHash, digest], 64), 'hex'), 'hex');
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

  /** The next link's hash, hex, from its entry's digest (bytes or hex). Then {@link advance}. */
  next(digest: Buffer | string): string {
    if (typeof digest === 'string') this.pair.write(digest, 32, 'hex');
    else digest.copy(this.pair, 32, 0, 32);
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
