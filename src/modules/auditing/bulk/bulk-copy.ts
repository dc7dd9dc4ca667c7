import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { BulkValidation, ValidBulkEntry } from './bulk-entry.validator';

/** A connection's pg client, as far as COPY needs it. */
export interface CopyClient {
  query<T>(stream: T): T;
}

const COLUMNS = [
  'event_id',
  '"timestamp"',
  'actor_id',
  'action_type',
  'entity_type',
  'entity_id',
  'details',
  'request_id',
  'correlation_id',
  'ip',
  'user_agent',
  'method',
  'path',
  'outcome',
  'status_code',
  'actor_roles',
];

/**
 * One COPY statement stores the batch. CSV, every value quoted: inside quotes the only special
 * character is the quote itself (doubled), so no value can end its field or its row; NULL is
 * the one unquoted (empty) field.
 */
export const BULK_COPY = `COPY action_log (${COLUMNS.join(', ')}) FROM STDIN WITH (FORMAT csv)`;

/** Entries validated (and written) per step: PostgreSQL stores one step while Node checks the next. */
export const COPY_STEP = 500;

const field = (value: string | null): string =>
  value === null ? '' : `"${value.replaceAll('"', '""')}"`;

/** A text[] literal: each element quoted, `\` and `"` escaped. */
const textArray = (values: string[]): string =>
  `{${values.map((v) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;

/**
 * An entry as a CSV row. Without a `timestamp` it gets `now`: PostgreSQL's time of the
 * transaction that stores it (a COPY has no per-row default for a column it lists).
 */
export function csvRow(e: ValidBulkEntry): string {
  return `${[
    e.eventId,
    e.timestamp ?? 'now',
    e.actorId,
    e.actionType,
    e.entityType,
    e.entityId,
    e.details,
    e.requestId,
    e.correlationId,
    e.ip,
    e.userAgent,
    e.method,
    e.path,
    e.outcome,
    e.statusCode === null ? null : String(e.statusCode),
    textArray(e.actorRoles),
  ]
    .map(field)
    .join(',')}\n`;
}

/**
 * Validates `items` a step at a time and streams the valid ones into one COPY on `client`, so
 * PostgreSQL stores while Node validates. Returns how many rows were stored (an event id
 * already stored is skipped by the exactly-once trigger and not counted). If any item is
 * invalid, the COPY is cancelled (nothing of it is stored) and the 400 listing every invalid
 * item is thrown once all of them are checked. Any other failure cancels it too.
 */
export async function copyEntries(
  client: CopyClient,
  items: unknown[],
  validation: BulkValidation,
): Promise<number> {
  const copy = client.query(copyFrom(BULK_COPY));
  // Observed from the start: a failure of the statement (the database gone) ends the wait
  // for `drain`, and never goes unhandled.
  const done = finished(copy);
  done.catch(() => undefined);
  try {
    for (let from = 0; from < items.length; from += COPY_STEP) {
      const valid = validation.validate(items, from, Math.min(from + COPY_STEP, items.length));
      if (validation.failed || valid.length === 0) continue;
      // Waits for PostgreSQL's answer to the COPY (first step) or for room in the socket.
      if (!copy.write(valid.map(csvRow).join(''))) await Promise.race([once(copy, 'drain'), done]);
    }
    if (validation.failed) throw new Error('invalid entries');
    copy.end();
    await done;
    return copy.rowCount;
  } catch (error) {
    // CopyFail: PostgreSQL discards what it received; wait for it, so the connection is ready.
    if (!copy.destroyed) copy.destroy(error as Error);
    await done.catch(() => undefined);
    validation.throwIfInvalid();
    throw error;
  }
}
