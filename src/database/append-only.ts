import { APP_GROUP_ROLE } from './roles';

/**
 * Makes `table` append-only (a migration's `up`): `reject_history_change()` (migration
 * AppendOnlyAuditLog) refuses UPDATE and DELETE of its rows and TRUNCATE, for every role, and
 * `mcp_app` loses the rights that `ALTER DEFAULT PRIVILEGES` gave it on the new table. GET
 * /health's `leastPrivilege` checks every table that carries the trigger.
 *
 * @example
 * for (const sql of appendOnlySql('action_log_chain')) await q.query(sql);
 */
export function appendOnlySql(table: string): string[] {
  assertPlainName(table);
  return [
    `CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table}
       FOR EACH ROW EXECUTE FUNCTION reject_history_change()`,
    `CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
       FOR EACH STATEMENT EXECUTE FUNCTION reject_history_change()`,
    `DO $$
     BEGIN
       IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_GROUP_ROLE}') THEN
         REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON ${table} FROM ${APP_GROUP_ROLE};
       END IF;
     END $$`,
  ];
}

/** The reverse of `appendOnlySql` (a migration's `down`), before the table is dropped or changed. */
export function dropAppendOnlySql(table: string): string[] {
  assertPlainName(table);
  return [
    `DROP TRIGGER ${table}_no_truncate ON ${table}`,
    `DROP TRIGGER ${table}_append_only ON ${table}`,
  ];
}

function assertPlainName(table: string): void {
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(table)) throw new Error(`not a plain table name: ${table}`);
}
