/**
 * True when the connection's role cannot rewrite the audit history: for every table that
 * carries `reject_history_change()` (action_log at least), its triggers are enabled and the
 * role has no UPDATE, DELETE, TRUNCATE or TRIGGER privilege on it, does not own it (nor is a
 * member of its owner: the owner can disable triggers and drop the table), and is neither a
 * superuser nor CREATEROLE (which can grant itself the owner's role). Catalog reads only.
 */
export const LEAST_PRIVILEGE_SQL = `
  WITH guard AS (
    SELECT to_regprocedure('reject_history_change()') AS fn
  ), guarded AS (
    SELECT DISTINCT c.oid, c.relowner
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid, guard
    WHERE t.tgfoid = guard.fn
  )
  SELECT NOT r.rolsuper AND NOT r.rolcreaterole
    AND (SELECT count(*) FROM pg_trigger t, guard
         WHERE t.tgrelid = to_regclass('action_log') AND t.tgfoid = guard.fn
           AND t.tgenabled IN ('O', 'A')) >= 2
    AND NOT EXISTS (
      SELECT 1 FROM pg_trigger t, guard WHERE t.tgfoid = guard.fn AND t.tgenabled NOT IN ('O', 'A'))
    AND NOT EXISTS (
      SELECT 1 FROM guarded g
      WHERE pg_has_role(current_user, g.relowner, 'MEMBER')
         OR has_table_privilege(g.oid, 'UPDATE') OR has_table_privilege(g.oid, 'DELETE')
         OR has_table_privilege(g.oid, 'TRUNCATE') OR has_table_privilege(g.oid, 'TRIGGER'))
    AS "leastPrivilege"
  FROM pg_roles r WHERE r.rolname = current_user`;
