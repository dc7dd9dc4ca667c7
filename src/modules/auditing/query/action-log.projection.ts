import { redact } from '../capture/redaction';
/**
 * The one place that says how an entry looks in the API: `[field, SQL expression]` over the
 * columns of `action_log`, in the order the JSON carries them. Ids as strings, timestamps as
 * UTC ISO-8601 with microseconds (the database's precision, and the cursors'). Adding a field
 * to the API is one line here (plus the DTO).
 */
export const ENTRY_FIELDS: readonly (readonly [field: string, sql: string])[] = [
  ['id', 'id::text'],
  ['eventId', 'event_id'],
  ['timestamp', `to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`],
  ['actorId', 'actor_id'],
  ['actionType', 'action_type'],
  ['entityType', 'entity_type'],
  ['entityId', 'entity_id'],
  ['details', 'details'],
  ['requestId', 'request_id'],
  ['correlationId', 'correlation_id'],
  ['ip', 'ip'],
  ['userAgent', 'user_agent'],
  ['method', 'method'],
  ['path', 'path'],
  ['outcome', 'outcome'],
  ['statusCode', 'status_code'],
  ['actorRoles', 'actor_roles'],
  // The entry's place in the hash chain: null until the sealer has chained it.
  ['seq', '(SELECT c.seq::text FROM action_log_chain c WHERE c.entry_id = id)'],
  ['hash', `(SELECT encode(c.hash, 'hex') FROM action_log_chain c WHERE c.entry_id = id)`],
  ['hashVersion', '(SELECT c.hash_version FROM action_log_chain c WHERE c.entry_id = id)'],
];

/** How many of ENTRY_FIELDS are the stored entry itself (the rest is its chain link). */
const STORED_FIELDS = ENTRY_FIELDS.length - 3;

/** The entry as columns named like its JSON fields (for `SELECT ... FROM action_log`). */
export const SELECT_ENTRY = ENTRY_FIELDS.map(([field, sql]) => `${sql} AS "${field}"`).join(', ');

/** The stored entry without its chain link: what the sealer hashes. */
export const SELECT_STORED_ENTRY = ENTRY_FIELDS.slice(0, STORED_FIELDS)
  .map(([field, sql]) => `${sql} AS "${field}"`)
  .join(', ');

/**
 * The entry as one JSON text built by PostgreSQL, for a query whose FROM holds one row of
 * `action_log` (or of a subquery over it): the read path sends it as is, without parsing and
 * re-serializing it in Node. `row_to_json` keeps the fields' order and is the cheapest builder.
 */
export const ENTRY_JSON = `(SELECT row_to_json(e) FROM (
  SELECT ${SELECT_STORED_ENTRY}, c.seq::text AS "seq", encode(c.hash, 'hex') AS "hash",
         c.hash_version AS "hashVersion"
  -- The chain link in one lookup (not one per field); \`id\` is the outer entry's.
  FROM (SELECT) AS entry LEFT JOIN action_log_chain c ON c.entry_id = id) e)::text`;

/**
 * The filters of a search as its READ entry records them. `details` arrives as JSON text, so
 * the redaction of the entry (which looks at keys) would not see inside it: it is recorded as
 * the object it stands for, redacted; text that is not JSON (refused anyway) is not kept.
 */
export function filtersForAudit(query: object): Record<string, unknown> {
  const filters = { ...(query as Record<string, unknown>) };
  if (typeof filters.details === 'string') {
    try {
      filters.details = redact(JSON.parse(filters.details) as unknown);
    } catch {
      filters.details = '[not JSON]';
    }
  }
  return filters;
}
