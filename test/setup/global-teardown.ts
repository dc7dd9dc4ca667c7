import { rm } from 'node:fs/promises';
import {
  KEY_DIR_VAR,
  RUN_ID_VAR,
  RUNTIME_ROLE_VAR,
  SERVER_URL_VAR,
  withAdmin,
} from './test-database';

export default async function globalTeardown(): Promise<void> {
  const runId = process.env[RUN_ID_VAR];
  const serverUrl = process.env[SERVER_URL_VAR];
  if (runId && serverUrl) {
    await withAdmin(serverUrl, async (c) => {
      const { rows } = await c.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`,
        [`mcp\\_t\\_${runId}\\_%`, `mcp_tpl_${runId}`],
      );
      for (const { datname } of rows)
        await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      const role = process.env[RUNTIME_ROLE_VAR];
      // Left behind (not a failure) while some database outside the run still names it.
      if (role) await c.query(`DROP ROLE IF EXISTS "${role}"`).catch(() => undefined);
    });
  }
  globalThis.__TEST_KEY_REFS__ = (globalThis.__TEST_KEY_REFS__ ?? 1) - 1;
  const keyDir = process.env[KEY_DIR_VAR];
  if (keyDir && globalThis.__TEST_KEY_REFS__ === 0) {
    await rm(keyDir, { recursive: true, force: true });
    delete process.env[KEY_DIR_VAR];
  }
  if (globalThis.__EMBEDDED_PG__) {
    await globalThis.__EMBEDDED_PG__.handle.stop();
    await rm(globalThis.__EMBEDDED_PG__.tempDir, { recursive: true, force: true });
  }
}
