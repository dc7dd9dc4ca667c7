import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/**
 * Test databases live beside the server's own: one migrated template per run
 * (`mcp_tpl_<run>`), and a fresh copy of it for each spec file, so files run in
 * parallel without sharing rows.
 */
export const RUN_ID_VAR = 'MCP_TEST_RUN_ID';
/** The run's temporary directory holding its checkpoint signing key. */
export const KEY_DIR_VAR = 'MCP_TEST_KEY_DIR';
export const SERVER_URL_VAR = 'MCP_TEST_SERVER_URL';
/** The run's login role in `mcp_app` (what the test apps connect as), and its password. */
export const RUNTIME_ROLE_VAR = 'MCP_TEST_RUNTIME_ROLE';
export const RUNTIME_PASSWORD_VAR = 'MCP_TEST_RUNTIME_PASSWORD';

export const runtimeRoleName = (runId: string): string => `mcp_rt_${runId}`;

/**
 * `url` (the run's server, as its superuser) as the run's runtime role; undefined for any
 * other server (e.g. a test's own embedded PostgreSQL), which then serves with one URL.
 */
export function runtimeUrl(url: string): string | undefined {
  const server = process.env[SERVER_URL_VAR];
  const role = process.env[RUNTIME_ROLE_VAR];
  const password = process.env[RUNTIME_PASSWORD_VAR];
  if (!server || !role || password === undefined) return undefined;
  const [a, b] = [new URL(url), new URL(server)];
  if (a.host !== b.host || a.username !== b.username) return undefined;
  a.username = encodeURIComponent(role);
  a.password = encodeURIComponent(password);
  return a.toString();
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export const templateName = (runId: string): string => `mcp_tpl_${runId}`;

export async function withAdmin<T>(serverUrl: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a database from the run's migrated template and returns its URL. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const runId = process.env[RUN_ID_VAR];
  const serverUrl = process.env[SERVER_URL_VAR];
  if (!runId || !serverUrl) throw new Error('test/setup/global-setup.ts did not run');
  const name = `mcp_t_${runId}_${randomBytes(4).toString('hex')}`;
  await withAdmin(serverUrl, (c) =>
    c.query(`CREATE DATABASE "${name}" TEMPLATE "${templateName(runId)}"`),
  );
  return {
    url: databaseUrl(serverUrl, name),
    drop: () =>
      withAdmin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}
