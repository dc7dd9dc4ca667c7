import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/**
 * Test databases live beside the server's own: one migrated template per run
 * (`mcp_tpl_<run>`), and a fresh copy of it for each spec file, so files run in
 * parallel without sharing rows.
 */
export const RUN_ID_VAR = 'MCP_TEST_RUN_ID';
export const SERVER_URL_VAR = 'MCP_TEST_SERVER_URL';

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
