/** The action log's monthly partitions (migration PartitionedActionLog). */

/** A TypeORM DataSource or query runner (rows) or a `pg` client (a result with rows). */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/** The rows of a query, whichever kind of connection ran it. */
export async function queryRows<T>(db: Queryable, sql: string, params?: unknown[]): Promise<T[]> {
  const result = await db.query(sql, params);
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** `action_log_YYYY_MM`: the month of UTC time it holds. */
export const PARTITION_NAME = /^action_log_(\d{4})_(\d{2})$/;

export interface Partition {
  name: string;
  /** First instant it holds (inclusive). */
  from: Date;
  /** First instant it no longer holds. */
  to: Date;
}

/** The partition's month, from its name (null: not one of ours). */
export function partitionOf(name: string): Partition | null {
  const match = PARTITION_NAME.exec(name);
  if (!match) return null;
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  return {
    name,
    from: new Date(Date.UTC(year, month, 1)),
    to: new Date(Date.UTC(year, month + 1, 1)),
  };
}

/**
 * The log's monthly partitions, oldest first: those attached, and any a purge detached but did
 * not get to drop (it finishes the job).
 */
export async function listPartitions(db: Queryable): Promise<Partition[]> {
  const rows = await queryRows<{ name: string }>(
    db,
    `SELECT c.relname AS name FROM pg_class c
     WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
       AND c.relname ~ '^action_log_[0-9]{4}_[0-9]{2}$'`,
  );
  return rows
    .map((r) => partitionOf(r.name))
    .filter((p): p is Partition => p !== null)
    .sort((a, b) => a.from.getTime() - b.from.getTime());
}

/**
 * Makes sure every month holding one of `times` has its partition (see
 * `audit_ensure_partitions`); returns how many were created. Any role of the service may call
 * it: it only ever creates empty partitions.
 */
export async function ensurePartitionsFor(db: Queryable, times: Date[]): Promise<number> {
  if (times.length === 0) return 0;
  const months = [
    ...new Set(
      times.map((t) => new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1)).toISOString()),
    ),
  ];
  const rows = await queryRows<{ created: number }>(
    db,
    `SELECT coalesce(sum(audit_ensure_partitions(m, m)), 0)::int AS created
     FROM unnest($1::timestamptz[]) m`,
    [months],
  );
  return rows[0]?.created ?? 0;
}

/** The current month and `ahead` months after it. */
export async function ensureMonthsAround(db: Queryable, now: Date, ahead: number): Promise<number> {
  const times: Date[] = [];
  for (let m = 0; m <= ahead; m++)
    times.push(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + m, 1)));
  return ensurePartitionsFor(db, times);
}

/** The oldest time an entry may carry under AUDIT_RETENTION_DAYS (null: kept forever). */
export function retentionHorizon(days: number | undefined, now = new Date()): Date | null {
  return days === undefined ? null : new Date(now.getTime() - days * 86_400_000);
}
