import { decodeCursor, invalidCursor } from '@/common/pagination/cursor';
import { ACTION_TYPES, OUTCOMES } from '../audit.types';
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
 * `details` (containment) is the one residual filter with an index of its own (GIN): when a
 * window comes back short *and* the object itself matched at most `limit / 10` of its rows (it
 * is rare: about 1 in 1,000 entries or fewer), the GIN index finds the matches directly
 * instead, reading only entries that contain the object. Otherwise the short page and its
 * cursor are the answer.
 */
export const SCAN_BUDGET = 5000;
/**
 * Months of history one GIN lookup of a containment covers, back from where the search starts:
 * the lookup reads every match in its range, so an object that looks rare in the newest window
 * but is common in years of history costs a bounded range, not the whole log. A page that
 * finds fewer matches there comes back short with a cursor at the range's start.
 */
export const CONTAINMENT_MONTHS = 6;

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
  /**
   * The driving scan: one branch per index range it reads (none: the time index). A branch's
   * `lead` is its last equality, written as a one-value range and sorted on first, so that only
   * the driver's index gives the order (the planner would otherwise walk the time index instead
   * when the equality matches many entries, reading far more than the window).
   */
  branches: { predicates: string[]; lead: string }[];
  /** The time window and the cursor (ranges on every driving index's `"timestamp", id`). */
  range: string[];
  /** The driving predicates as plain equalities (for queries without a window). */
  plain: string[];
  /** Predicates checked on the driving scan's window. */
  residual: string[];
  /** The `details` containment (one of `residual`), which the GIN index can drive. */
  containment?: string;
  /** How many of `params` the driving predicates and the containment take (the first ones). */
  windowParams: number;
  /**
   * Whether every query of the search has one good plan whatever the values: no driver but
   * the time index, and no `from`/`to` (at most a cursor). Its window then always walks the
   * time index from the newest entry (or the cursor), and a containment always reads the GIN
   * index; a driver's range or a time window can match one entry or millions, and a plan
   * made without the values might sort them all.
   */
  valueFree: boolean;
  /**
   * With a containment: where its GIN lookup stops (the start of the month CONTAINMENT_MONTHS
   * back from the cursor, `to` or now, as a cursor's timestamp), unless `from` stops it first.
   */
  containmentSince?: string;
}

/**
 * Splits the filters into driving and residual predicates. Parameters are numbered driving
 * first, then the containment, then the other residual ones, so a query over the driving scan
 * (and the containment) takes a prefix of `params`: `windowParams` of them.
 */
export function planSearch(
  filters: SearchFilters,
  cursor?: string,
  now = new Date().toISOString(),
): SearchPlan {
  const present = (k: EqualityFilter) => filters[k] !== undefined;
  const driver = DRIVERS.find((d) => d.keys.every(present) && (d.serves?.(filters) ?? true));
  const params: unknown[] = [];
  const param = (value: unknown): string => `$${params.push(value)}`;
  const plain: string[] = [];
  const equal: string[] = [];
  let lead: { column: string; p: string } | undefined;
  for (const key of driver?.keys ?? []) {
    // The partial index of rejected attempts serves `outcome` only when the planner sees the
    // value: it is written as a constant (one of OUTCOMES), so a generic plan can use it too.
    const p = key === 'outcome' ? outcomeConstant(filters.outcome) : param(filters[key]);
    plain.push(`${COLUMN[key]} = ${p}`);
    if (key === driver?.keys[driver.keys.length - 1]) lead = { column: COLUMN[key], p };
    else equal.push(`${COLUMN[key]} = ${p}`);
  }
  const oneValue = (column: string, p: string) => `${column} >= ${p} AND ${column} <= ${p}`;
  const branches =
    driver?.keys.length === 1 && driver.keys[0] === 'entityType'
      ? // No index leads with entity_type then "timestamp": one branch per action type of
        // (entity_type, action_type, "timestamp", id), merged.
        ACTION_TYPES.map((type) => ({
          predicates: [...plain, oneValue('action_type', `'${type}'`)],
          lead: 'action_type',
        }))
      : lead
        ? [{ predicates: [...equal, oneValue(lead.column, lead.p)], lead: lead.column }]
        : [];
  const range: string[] = [];
  if (filters.from) range.push(`"timestamp" >= ${param(filters.from)}::timestamptz`);
  if (filters.to) range.push(`"timestamp" < ${param(filters.to)}::timestamptz`);
  if (cursor) {
    const [ts, id] = cursorPosition(cursor).map(param);
    // The plain bound on "timestamp" is redundant, but the planner estimates it (a row
    // comparison it does not), which keeps it off bitmap scans of the rest of the log.
    range.push(
      `"timestamp" <= ${ts}::timestamptz`,
      `("timestamp", id) < (${ts}::timestamptz, ${id}::bigint)`,
    );
  }
  const containment = filters.details
    ? `details @> ${param(JSON.stringify(filters.details))}::jsonb`
    : undefined;
  const windowParams = params.length;
  const residual = containment ? [containment] : [];
  for (const key of Object.keys(COLUMN) as EqualityFilter[]) {
    if (present(key) && !driver?.keys.includes(key)) {
      residual.push(`${COLUMN[key]} = ${param(filters[key])}`);
    }
  }
  // A containment, so the GIN index on actor_roles could serve it.
  if (filters.actorRole) residual.push(`actor_roles @> ARRAY[${param(filters.actorRole)}]::text[]`);
  const valueFree = branches.length === 0 && !filters.from && !filters.to;
  let containmentSince: string | undefined;
  if (containment) {
    // No entry is newer than now: a `to` in the future must not start the range there.
    const start = new Date(
      Math.min(
        Date.parse(now),
        Date.parse(cursor ? cursorPosition(cursor)[0] : (filters.to ?? now)),
      ),
    );
    const since = Date.UTC(start.getUTCFullYear(), start.getUTCMonth() - CONTAINMENT_MONTHS + 1);
    if (!(filters.from && Date.parse(filters.from) >= since)) {
      containmentSince = `${new Date(since).toISOString().slice(0, 19)}.000000Z`;
    }
  }
  return {
    params,
    branches,
    range,
    plain,
    residual,
    containment,
    windowParams,
    valueFree,
    containmentSince,
  };
}

function outcomeConstant(outcome: unknown): string {
  const known = OUTCOMES.find((o) => o === outcome);
  if (!known) throw new TypeError(`unknown outcome ${String(outcome)}`);
  return `'${known}'`;
}

const where = (predicates: string[]): string =>
  predicates.length ? `WHERE ${predicates.join(' AND ')}` : '';

/** A row's keyset position (the cursor's parts), as `t` and `i`. */
export const POSITION = `to_char(l."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t, l.id::text AS i`;

// ORDER BY names the relation's columns, never the output's (the JSON text).
const NEWEST_FIRST = `ORDER BY l."timestamp" DESC, l.id DESC`;
const leadFirst = (lead: string) => `ORDER BY l.${lead} DESC, l."timestamp" DESC, l.id DESC`;

/**
 * The first `n` rows of the driving scan (all columns, as `l`) and the ORDER BY that keeps
 * them in their order (newest first).
 */
function driving(plan: SearchPlan, n: string): { from: string; order: string } {
  const scan = (predicates: string[], order: string) =>
    `SELECT * FROM action_log l ${where([...predicates, ...plan.range])} ${order} LIMIT ${n}`;
  if (plan.branches.length === 0) {
    return { from: `(${scan([], NEWEST_FIRST)}) l`, order: NEWEST_FIRST };
  }
  if (plan.branches.length === 1) {
    const [{ predicates, lead }] = plan.branches;
    return { from: `(${scan(predicates, leadFirst(lead))}) l`, order: leadFirst(lead) };
  }
  const union = plan.branches
    .map(({ predicates, lead }) => `(${scan(predicates, leadFirst(lead))})`)
    .join(' UNION ALL ');
  return {
    from: `(SELECT * FROM (${union}) l ${NEWEST_FIRST} LIMIT ${n}) l`,
    order: NEWEST_FIRST,
  };
}

/**
 * The rows of the search, newest first, at most `limit`: `select` over `l` (a row of the log),
 * plus `t`/`i` (the row's position, for the cursor). With residual predicates, they are checked
 * on the first SCAN_BUDGET rows of the driving scan only.
 */
export function searchSql(plan: SearchPlan, select: string, limit: string): string {
  const { from, order } = driving(plan, plan.residual.length ? String(SCAN_BUDGET) : limit);
  return `SELECT ${select}, ${POSITION} FROM ${from} ${where(plan.residual)} ${order}
          LIMIT ${limit}`;
}

/**
 * Where the driving scan's window ends: the position `t`/`i` of its last row (the
 * SCAN_BUDGET-th), and how many of its rows the containment (`details`) alone matches
 * (`dense`, when measured). No row: the window is shorter than SCAN_BUDGET, so the scan ended
 * inside it. Without the containment it reads the window's index entries only (the heap of
 * those not yet all-visible): a fraction of the search's own cost.
 */
export function windowSql(plan: SearchPlan, measureContainment = true): string {
  const measured = measureContainment ? plan.containment : undefined;
  const { from, order } = driving(plan, String(SCAN_BUDGET));
  // Only the last row is projected (to_char on every row of the window cost more than the
  // scan itself).
  const dense = measured ? `(SELECT count(*) FROM ${from} WHERE ${measured})` : '0';
  return `SELECT ${POSITION}, ${dense}::int AS dense
          FROM (SELECT l."timestamp", l.id FROM ${from} ${order}
                OFFSET ${SCAN_BUDGET - 1} LIMIT 1) l`;
}

/** Every predicate in one WHERE, no window, newest first: an export's query. */
export function exactSql(plan: SearchPlan, select: string): string {
  return `SELECT ${select} FROM action_log l
          ${where([...plan.plain, ...plan.range, ...plan.residual])} ${NEWEST_FIRST}`;
}

/**
 * The page from the entries that contain `details` (the GIN index), for a containment known to
 * be rare. The order is on an expression no B-tree provides, so the planner cannot walk an
 * index in page order hoping to meet matches (on a rare one it would read the whole log): it
 * must find the matches first, and the GIN index is how.
 */
export function containmentSql(plan: SearchPlan, select: string, limit: string): string {
  // `containmentSince` as a constant (a month's start, ours: a few distinct statements in all),
  // so a generic plan prunes the months before it and estimates it: as a parameter, the
  // generic plan walked the time range instead.
  const since = plan.containmentSince;
  const stop = since ? [`"timestamp" >= '${new Date(since).toISOString()}'::timestamptz`] : [];
  return `SELECT ${select}, ${POSITION} FROM action_log l
          ${where([...plan.plain, ...plan.range, ...plan.residual, ...stop])}
          ORDER BY l."timestamp" + interval '0 s' DESC, l.id DESC LIMIT ${limit}`;
}
