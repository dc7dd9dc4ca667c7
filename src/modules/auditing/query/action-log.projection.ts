/**
 * The columns of `action_log` as the API returns an entry: ids as strings, timestamps as UTC
 * ISO-8601 with microseconds (the database's precision, and the cursors').
 */
export const SELECT_ENTRY = `
  id::text AS "id", event_id AS "eventId",
  to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "timestamp",
  actor_id AS "actorId", action_type AS "actionType", entity_type AS "entityType",
  entity_id AS "entityId", details, request_id AS "requestId", correlation_id AS "correlationId",
  ip, user_agent AS "userAgent", method, path, outcome, status_code AS "statusCode",
  actor_roles AS "actorRoles"`;

/**
 * An entry's place in the hash chain (both null until the sealer has chained it), for a query
 * `FROM action_log l ${JOIN_CHAIN}`.
 */
export const SELECT_CHAIN = `c.seq::text AS "seq", encode(c.hash, 'hex') AS "hash",
  c.hash_version AS "hashVersion"`;
export const JOIN_CHAIN = `LEFT JOIN action_log_chain c ON c.entry_id = l.id`;
