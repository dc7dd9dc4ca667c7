import { Client } from 'pg';

/**
 * The group role that holds the running service's privileges (granted by the migration
 * AppendOnlyAuditLog). It cannot log in and owns nothing; a login role joins it.
 */
export const APP_GROUP_ROLE = 'mcp_app';

/** The login role the service connects as in the embedded default. */
export const EMBEDDED_RUNTIME_ROLE = 'mcp_runtime';

/**
 * Creates `mcp_app` unless it exists. Roles are cluster-wide and several databases (tests, two
 * services) may migrate at once: a concurrent creation is not an error. A user without
 * CREATEROLE gets a warning instead of a failed migration (see the migration's comment).
 */
export function ensureGroupRoleSql(): string {
  return `
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_GROUP_ROLE}') THEN
        CREATE ROLE ${APP_GROUP_ROLE} NOLOGIN;
      END IF;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by another session
      WHEN insufficient_privilege THEN
        RAISE WARNING 'role ${APP_GROUP_ROLE} does not exist and % may not create it: the service''s privileges are not granted (README, Append-only and database roles)', current_user;
    END $$`;
}

/**
 * Makes `name` a login role in `mcp_app` with `password` (set again each time, so the file
 * that keeps it stays the truth), creating `mcp_app` too. Runs as a superuser or a role with
 * CREATEROLE; idempotent and safe against a concurrent caller.
 */
export async function ensureLoginRole(
  adminUrl: string,
  name: string,
  password: string,
): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain role name: ${name}`);
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(ensureGroupRoleSql());
    const secret = client.escapeLiteral(password);
    await client.query(`
      DO $$
      BEGIN
        CREATE ROLE ${name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`);
    await client.query(
      `ALTER ROLE ${name} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${secret}`,
    );
    const { rows } = await client.query(`SELECT pg_has_role($1, $2, 'MEMBER') AS member`, [
      name,
      APP_GROUP_ROLE,
    ]);
    if (!(rows[0] as { member: boolean }).member) {
      await client.query(`GRANT ${APP_GROUP_ROLE} TO ${name}`);
    }
  } finally {
    await client.end();
  }
}

/** `url` with another user and password (same server and database). */
export function withCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}
