import type { MigrationInterface, QueryRunner } from 'typeorm';
import { appendOnlySql, dropAppendOnlySql } from '../append-only';
import { APP_GROUP_ROLE, ensureGroupRoleSql } from '../roles';

/**
 * The audit history cannot be rewritten, and the application's role could not if it tried.
 *
 * Append-only, for every role: `reject_history_change()` raises SQLSTATE `AU003`
 * ("action_log is append-only: UPDATE is not allowed") from a BEFORE UPDATE OR DELETE row
 * trigger and a BEFORE TRUNCATE statement trigger. Superusers and the owner are refused too;
 * they alone can disable the triggers (`ALTER TABLE … DISABLE TRIGGER`, or
 * `session_replication_role`), which the hash chain then gives away. Old data leaves by
 * dropping whole partitions (the retention issue), never row by row.
 *
 * Least privilege: `mcp_app` (NOLOGIN, cluster-wide, created here when it does not exist) holds
 * what the running service needs — SELECT/INSERT/UPDATE/DELETE on the business tables and the
 * outbox, SELECT/INSERT only on the append-only tables, USAGE on sequences, EXECUTE on the
 * functions, SELECT on `migrations` — and owns nothing, so it cannot ALTER, DROP, disable
 * triggers or TRUNCATE. The login role the service connects as is a member of `mcp_app` (see
 * README "Append-only and database roles"); migrations run as the owner. `ALTER DEFAULT PRIVILEGES` grants
 * the same on tables and sequences created later by the role that runs migrations.
 *
 * A later migration that adds an append-only table (the chain, checkpoints) attaches the same
 * triggers and takes the rights back from `mcp_app`: `appendOnlySql('<table>')` in `up`,
 * `dropAppendOnlySql('<table>')` in `down` (src/database/append-only.ts).
 *
 * `/health` reports `leastPrivilege` from what the service's role can do on every table that
 * carries the trigger (src/database/least-privilege.ts).
 *
 * A migration user without CREATEROLE cannot create `mcp_app`: the triggers are installed and
 * the grants skipped with a warning (one-URL deployments keep working); an administrator
 * creates the role first, as the README shows, before this migration runs.
 */
export class AppendOnlyAuditLog1795900000000 implements MigrationInterface {
  name = 'AppendOnlyAuditLog1795900000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION reject_history_change() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION USING
          ERRCODE = 'AU003',
          MESSAGE = format('%s is append-only: %s is not allowed', TG_TABLE_NAME, TG_OP),
          HINT = 'Audit history is never changed or removed row by row.';
      END $$`);
    await q.query(`COMMENT ON FUNCTION reject_history_change() IS
      'Refuses UPDATE, DELETE and TRUNCATE on an append-only table (SQLSTATE AU003)'`);

    await q.query(ensureGroupRoleSql());
    if (await roleExists(q)) for (const sql of GRANTS) await q.query(sql);
    // After the grants: the history is read and appended to, nothing else.
    for (const sql of appendOnlySql('action_log')) await q.query(sql);
  }

  public async down(q: QueryRunner): Promise<void> {
    // The role is cluster-wide and may serve other databases: it stays (DROP ROLE by hand).
    if (await roleExists(q)) for (const sql of REVOKES) await q.query(sql);
    for (const sql of dropAppendOnlySql('action_log')) await q.query(sql);
    await q.query(`DROP FUNCTION reject_history_change()`);
  }
}

async function roleExists(q: QueryRunner): Promise<boolean> {
  const rows = (await q.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [
    APP_GROUP_ROLE,
  ])) as unknown[];
  return rows.length > 0;
}

const R = APP_GROUP_ROLE;

const GRANTS = [
  `GRANT USAGE ON SCHEMA public TO ${R}`,
  `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${R}`,
  `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${R}`,
  `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ${R}`,
  // Migrations are the owner's business.
  `REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON migrations FROM ${R}`,
  `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${R}`,
  `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${R}`,
  `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO ${R}`,
];

const REVOKES = [
  `ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE EXECUTE ON FUNCTIONS FROM ${R}`,
  `ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM ${R}`,
  `ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM ${R}`,
  `REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM ${R}`,
  `REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${R}`,
  `REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${R}`,
  `REVOKE USAGE ON SCHEMA public FROM ${R}`,
];
