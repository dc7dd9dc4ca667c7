import { decodeCursor, invalidCursor } from '@/common/pagination/cursor';
import type { QueryActionLogsDto } from './dto/query-action-logs.dto';

/**
 * How a search of the action log becomes SQL with bounded work at any size and selectivity.
 *
 * Every filter that some B-tree index leads with (as equalities, then `"timestamp", id`) can
 * *drive* the scan: the rows come out of that index already filtered and in page order, so a
 * page reads `limit + 1` entries, and a combination that matches nothing reads nothing. The
 * most selective driver present wins (see DRIVERS). The filters left over (`statusCode`,
 * `outcome=SUCCESS`, `actorRole`, `details`, `entityId` without `entityType`, a second strong
 * filter) are *residual*: they are checked on a window of at most SCAN_BUDGET entries of the
 * driving scan. A page that finds fewer than `limit` entries in its window comes back short
 * (even empty) with a `nextCursor` where the window ended: the next request goes on from
 * there. No request walks the log end to end, whatever it asks.
 *
 * `details` (containment) is the one residual filter with an index of its own (GIN): when its
 * window comes back short, matches are sparse, and the GIN index finds them directly (reading
 * only the entries that contain the object, fewer than limit/SCAN_BUDGET of the rows walked).
 */
export const SCAN_BUDGET = 5000;

export type SearchFilters = Omit<QueryActionLogsDto, 'limit' | 'cursor'>;

const COLUMN = {
  actorId: 'actor_id',
  actionType: 'action_type',
  entityType: 'entity_type',
  entityId: 'entity_id',
  requestId: 'request_id',
  correlationId: 'correlation_id',
  outcome: 'outcome',
  statusCode: 'status_code',
} as const satisfies Partial<Record<keyof SearchFilters, string>>;
type EqualityFilter = keyof typeof COLUMN;

/**
 * The B-tree indexes that end in `("timestamp", id)`, by the equalities they lead with, most
 * selective first. `outcome` is served by a partial index of the rejected attempts only.
 */
const DRIVERS: { keys: EqualityFilter[]; serves?: (f: SearchFilters) => boolean }[] = [
  { keys: ['requestId'] }, // action_log_request_idx
  { keys: ['correlationId'] }, // action_log_correlation_idx
  { keys: ['entityType', 'entityId'] }, // action_log_entity_idx
  { keys: ['actorId'] }, // action_log_actor_idx
  { keys: ['entityType', 'actionType'] }, // action_log_entity_type_action_idx
  { keys: ['entityType'] }, // action_log_entity_type_action_idx
  { keys: ['actionType'] }, // action_log_action_idx
  { keys: ['outcome'], serves: (f) => f.outcome !== 'SUCCESS' }, // action_log_rejected_idx
];

const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const MAX_BIGINT = 2n ** 63n - 1n;

export function isBigint(id: string): boolean {
  return /^\d{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
}

/** The keyset position `(timestamp, id)` a cursor names; 400 for anything else. */
export function cursorPosition(cursor: string): [timestamp: string, id: string] {
  const [ts, id] = decodeCursor(cursor, ['string', 'string']).map(String);
  if (!isBigint(id) || !ISO_TIMESTAMP.test(ts)) invalidCursor();
  return [ts, id];
}

export interface SearchPlan {
  params: unknown[];
  /** `WHERE` predicates the driving index answers (with the time window and the cursor). */
  driving: string[];
  /** Predicates checked on the driving scan's window. */
  residual: string[];
}

/** Splits the filters into driving and residual predicates (parameters numbered from $1). */
export function planSearch(filters: SearchFilters, cursor?: string): SearchPlan {
  const params: unknown[] = [];
  const param = (value: unknown): string => `$${params.push(value)}`;
  const present = (k: EqualityFilter) => filters[k] !== undefined;
  const driver = DRIVERS.find((d) => d.keys.every(present) && (d.serves?.(filters) ?? true));
  const driving: string[] = [];
  const residual: string[] = [];
  for (const key of Object.keys(COLUMN) as EqualityFilter[]) {
    if (!present(key)) continue;
    (driver?.keys.includes(key) ? driving : residual).push(
      `${COLUMN[key]} = ${param(filters[key])}`,
    );
  }
  // Containments, so the GIN indexes can serve them.
  if (filters.actorRole) {
    residual.push(`actor_roles @> ARRAY[${param(filters.actorRole)}]::text[]`);
  }
  if (filters.details) {
    residual.push(`details @> ${param(JSON.stringify(filters.details))}::jsonb`);
  }
  // Every driving index continues with ("timestamp", id): the window and the cursor are ranges
  // on it.
  if (filters.from) driving.push(`"timestamp" >= ${param(filters.from)}::timestamptz`);
  if (filters.to) driving.push(`"timestamp" < ${param(filters.to)}::timestamptz`);
  if (cursor) {
    const [ts, id] = cursorPosition(cursor);
    driving.push(`("timestamp", id) < (${param(ts)}::timestamptz, ${param(id)}::bigint)`);
  }
  return { params, driving, residual };
}

const where = (predicates: string[]): string =>
  predicates.length ? `WHERE ${predicates.join(' AND ')}` : '';

/** A row's keyset position (the cursor's parts), as `t` and `i`. */
export const POSITION = `to_char(l."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t, l.id::text AS i`;

// ORDER BY names the relation's columns, never the output's (the JSON text).
const NEWEST_FIRST = `ORDER BY l."timestamp" DESC, l.id DESC`;

/**
 * The rows of the search, newest first, at most `limit`: `select` over `l` (a row of the log),
 * plus `t`/`i` (the row's position, for the cursor). With residual predicates, they are checked
 * on the first SCAN_BUDGET rows of the driving scan only.
 */
export function searchSql(plan: SearchPlan, select: string, limit: string): string {
  if (plan.residual.length === 0) {
    return `SELECT ${select}, ${POSITION} FROM action_log l ${where(plan.driving)}
            ${NEWEST_FIRST} LIMIT ${limit}`;
  }
  return `SELECT ${select}, ${POSITION}
          FROM (SELECT * FROM action_log l ${where(plan.driving)} ${NEWEST_FIRST}
                LIMIT ${SCAN_BUDGET}) l
          ${where(plan.residual)} ${NEWEST_FIRST} LIMIT ${limit}`;
}

/**
 * The position of the driving scan's last row when the window was full (the next page starts
 * after it); no row when the scan ended inside the window.
 */
export function windowEndSql(plan: SearchPlan): string {
  return `SELECT ${POSITION}
          FROM (SELECT "timestamp", id FROM action_log l ${where(plan.driving)} ${NEWEST_FIRST}
                LIMIT ${SCAN_BUDGET}) l
          ${NEWEST_FIRST} OFFSET ${SCAN_BUDGET - 1} LIMIT 1`;
}

/** Every predicate in one WHERE, no window: for the GIN path and for exports. */
export function exactSql(plan: SearchPlan, select: string, limit?: string): string {
  return `SELECT ${select} FROM action_log l ${where([...plan.driving, ...plan.residual])}
          ${NEWEST_FIRST}${limit ? ` LIMIT ${limit}` : ''}`;
}
