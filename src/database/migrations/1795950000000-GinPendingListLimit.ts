import type { MigrationInterface, QueryRunner } from 'typeorm';
import { ENSURE_PARTITIONS } from './1795940000000-PartitionedActionLog';

/** Each GIN index's pending list, in kB (PostgreSQL's default: 4,096). */
export const GIN_PENDING_LIST_KB = 64;

/**
 * Caps the pending list of the log's GIN indexes (`details`, `actor_roles`) at 64 kB.
 *
 * A GIN index takes new entries into an unsorted pending list and merges it into the index
 * when it passes `gin_pending_list_limit` (4 MB by default) or when (auto)vacuum runs. Every
 * search through the index reads the whole list: measured on the bench's month of 1M entries,
 * a `details` containment search spent 1.7 of its 2.0 ms scanning a 68-page list (0.35 ms once
 * merged), and the writer that crosses 4 MB merges it all at once, inside its own insert. At
 * 64 kB the list a search reads is at most 8 pages, and the merges are small and frequent.
 * Inserts keep the pending list's cheaper path (with `fastupdate = off` instead, a raw COPY
 * ran about a quarter slower in one measurement).
 *
 * A partitioned index takes no storage parameters, so each month's index gets it: the
 * existing ones here (their lists merged now), the future ones in `audit_ensure_partitions`.
 */
export class GinPendingListLimit1795950000000 implements MigrationInterface {
  name = 'GinPendingListLimit1795950000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(ensurePartitionsWithLimit());
    for (const { name } of await ginIndexes(q)) {
      await q.query(
        `ALTER INDEX public.${name} SET (gin_pending_list_limit = ${GIN_PENDING_LIST_KB})`,
      );
      await q.query(`SELECT gin_clean_pending_list('public.${name}'::regclass)`);
    }
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(ENSURE_PARTITIONS.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION'));
    for (const { name } of await ginIndexes(q)) {
      await q.query(`ALTER INDEX public.${name} RESET (gin_pending_list_limit)`);
    }
  }
}

/** The GIN indexes of the log's partitions (quoted names). */
async function ginIndexes(q: QueryRunner): Promise<{ name: string }[]> {
  const rows = (await q.query(`
    SELECT quote_ident(c.relname) AS name
    FROM pg_partition_tree('action_log') t
    JOIN pg_index x ON x.indrelid = t.relid
    JOIN pg_class c ON c.oid = x.indexrelid
    JOIN pg_am a ON a.oid = c.relam
    WHERE t.isleaf AND a.amname = 'gin'`)) as { name: string }[];
  return rows;
}

/** `audit_ensure_partitions` as before, plus the cap on each new month's GIN indexes. */
function ensurePartitionsWithLimit(): string {
  const anchor = `          EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE`;
  if (!ENSURE_PARTITIONS.includes(anchor)) throw new Error('audit_ensure_partitions changed');
  return ENSURE_PARTITIONS.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION').replace(
    anchor,
    `          FOR v_index IN
            SELECT c.relname AS child
            FROM pg_index x
            JOIN pg_class c ON c.oid = x.indexrelid
            JOIN pg_am a ON a.oid = c.relam
            WHERE x.indrelid = to_regclass('public.' || v_name) AND a.amname = 'gin'
          LOOP
            EXECUTE format('ALTER INDEX public.%I SET (gin_pending_list_limit = ${GIN_PENDING_LIST_KB})',
              v_index.child);
          END LOOP;
${anchor}`,
  );
}
