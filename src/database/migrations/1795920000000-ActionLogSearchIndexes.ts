import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes that keep every search of the action log bounded (issue 11). Each index costs every
 * audited write (~10 µs a B-tree), so there are three, each closing a hole the measurements
 * showed; the rest is the query's plan shape (see `action-log.search.ts`):
 *
 * - `(entity_type, action_type, "timestamp", id)`: `?entityType=&actionType=`, and
 *   `?entityType=` alone as four ranges of it (one per action type) merged. Before, both walked
 *   the whole time index filtering rows (354 ms on 1M rows when nothing matched):
 *   `(entity_type, entity_id, …)` cannot give one type's entries in time order. Now the leading
 *   columns are equalities and the scan reads only matching entries, in page order, so a
 *   combination with no match reads nothing.
 * - `(action_type, "timestamp", id)`: `?actionType=` alone, with or without a time window —
 *   the rare types (DELETE) were the slow ones.
 * - GIN `jsonb_path_ops` on `details`: the `?details={...}` containment filter (~250 ms without
 *   an index on 1M rows, ~0.4 ms with it). `jsonb_path_ops` serves only `@>`, which is the one
 *   operator the API uses, and is smaller and faster to update than the default opclass.
 *
 * Whatever no index leads (`statusCode`, `outcome=SUCCESS`, `actorRole`, `entityId` without
 * `entityType`, a second strong filter) is applied to a bounded window of the best index's
 * scan (the query's scan budget): a page may then come back short with a cursor to go on.
 *
 * Plain CREATE INDEX (migrations run in a transaction): on a large existing log, create them
 * CONCURRENTLY by hand first with the same names; `IF NOT EXISTS` then skips them here.
 */
export class ActionLogSearchIndexes1795920000000 implements MigrationInterface {
  name = 'ActionLogSearchIndexes1795920000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX IF NOT EXISTS action_log_entity_type_action_idx
         ON action_log (entity_type, action_type, "timestamp", id)`,
    );
    await q.query(
      `CREATE INDEX IF NOT EXISTS action_log_action_idx ON action_log (action_type, "timestamp", id)`,
    );
    await q.query(
      `CREATE INDEX IF NOT EXISTS action_log_details_idx ON action_log USING gin (details jsonb_path_ops)`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX action_log_details_idx`);
    await q.query(`DROP INDEX action_log_action_idx`);
    await q.query(`DROP INDEX action_log_entity_type_action_idx`);
  }
}
