import { DataSource } from 'typeorm';
import { dataSourceOptions } from '@/database/data-source-options';
import { createTestApp } from './helpers/test-app';
import { createTestDatabase } from './setup/test-database';

/**
 * The PartitionedActionLog migration on a log that already holds history: every row moves
 * into its month with its id, event id, time and chain link intact, the registry learns every
 * event id, and the chain still verifies. Then back and forth again.
 */
describe('The PartitionedActionLog migration (e2e)', () => {
  it('moves existing entries into monthly partitions, keeping ids, chain and exactly-once', async () => {
    const db = await createTestDatabase();
    const ds = new DataSource(dataSourceOptions({ url: db.url, entities: false }));
    await ds.initialize();
    try {
      // The database as it was before the migration (and those after it), with entries over
      // three months.
      const executed = async () =>
        ds.query<{ name: string }[]>('SELECT name FROM migrations ORDER BY id DESC LIMIT 1');
      for (let undone = 0; (await executed())[0]?.name !== 'WorkflowExecution1795930000000';) {
        expect(++undone).toBeLessThan(10);
        await ds.undoLastMigration({ transaction: 'each' });
      }
      const [{ partitioned }] = await ds.query<{ partitioned: boolean }[]>(
        `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table
                        WHERE partrelid = 'action_log'::regclass) AS partitioned`,
      );
      expect(partitioned).toBe(false);
      await ds.query(`
        INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
                                details)
        SELECT gen_random_uuid(), timestamptz '2026-06-30T23:59:59.999999Z' + g * interval '9 days',
               'user-' || g, 'UPDATE', 'MCP_DEFINITION', g::text, jsonb_build_object('g', g)
        FROM generate_series(0, 9) g`);
      const before = await ds.query<Record<string, unknown>[]>(
        `SELECT id::text, event_id::text, "timestamp", actor_id, details, tx::text
         FROM action_log ORDER BY id`,
      );
      await ds.runMigrations({ transaction: 'each' });

      const after = await ds.query<Record<string, unknown>[]>(
        `SELECT id::text, event_id::text, "timestamp", actor_id, details, tx::text
         FROM action_log ORDER BY id`,
      );
      expect(after).toEqual(before);
      const parts = await ds.query<{ part: string; n: number }[]>(
        `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM action_log
         GROUP BY 1 ORDER BY 1`,
      );
      expect(parts).toEqual([
        { part: 'action_log_2026_06', n: 1 },
        { part: 'action_log_2026_07', n: 3 },
        { part: 'action_log_2026_08', n: 3 },
        { part: 'action_log_2026_09', n: 3 },
      ]);
      const [{ registered }] = await ds.query<{ registered: number }[]>(
        `SELECT count(*)::int AS registered FROM action_log_event_ids r
         JOIN action_log l ON l.event_id = r.event_id AND l.id = r.entry_id
                           AND l."timestamp" = r.entry_time`,
      );
      expect(registered).toBe(10);
      // The next id continues the sequence.
      const [{ next }] = await ds.query<{ next: string }[]>(
        `SELECT nextval('action_log_id_seq')::text AS next`,
      );
      expect(BigInt(next)).toBeGreaterThan(BigInt(before[before.length - 1].id as string));
    } finally {
      await ds.destroy();
    }

    // The service on the migrated log: it chains the moved entries, and they verify.
    const t = await createTestApp({ databaseUrl: db.url });
    try {
      await t.seal();
      const verify = await t.http.get('/api/v1/action-logs/verify').expect(200);
      expect(verify.body).toMatchObject({ ok: true, firstInvalid: null });
      expect(verify.body.checked).toBeGreaterThanOrEqual(10);
    } finally {
      await t.close();
      await db.drop();
    }
  });
});
