import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { loadEnv } from '../../src/config/env';
import { dataSourceOptions } from '../../src/database/data-source-options';
import {
  startEmbeddedPostgres,
  type EmbeddedPostgresHandle,
} from '../../src/database/embedded-postgres';
import { ensureLoginRole } from '../../src/database/roles';
import {
  databaseUrl,
  KEY_DIR_VAR,
  RUN_ID_VAR,
  RUNTIME_PASSWORD_VAR,
  RUNTIME_ROLE_VAR,
  runtimeRoleName,
  SERVER_URL_VAR,
  templateName,
  withAdmin,
} from './test-database';

declare global {
  var __EMBEDDED_PG__: { handle: EmbeddedPostgresHandle; tempDir: string } | undefined;
  var __TEST_KEY_REFS__: number | undefined;
}

/**
 * DATABASE_URL set (in the environment or `.env`) → tests use that server; unset → a throwaway
 * embedded PostgreSQL.
 * Either way the run gets its own migrated template database, and its own login role in
 * `mcp_app`: the test apps run as it (migrations as the superuser), so the whole suite proves
 * that the runtime grants suffice.
 */
export default async function globalSetup(): Promise<void> {
  let serverUrl = loadEnv().DATABASE_URL;
  if (!serverUrl) {
    const tempDir = await mkdtemp(join(tmpdir(), 'mcp-test-pg-'));
    const handle = await startEmbeddedPostgres({ dataDir: join(tempDir, 'data'), ephemeral: true });
    globalThis.__EMBEDDED_PG__ = { handle, tempDir };
    serverUrl = handle.url;
  }
  // One secrets key per run (the workers and the apps they start inherit it), so tests never
  // write a key file into the developer's ./.data.
  process.env.MCP_SECRETS_KEY ??= randomBytes(32).toString('base64');
  // Likewise one checkpoint signing key (production-mode children require one). Jest runs this
  // setup once per project, in one process: the key is shared, and the last teardown removes it.
  globalThis.__TEST_KEY_REFS__ = (globalThis.__TEST_KEY_REFS__ ?? 0) + 1;
  if (!process.env[KEY_DIR_VAR]) {
    const keyDir = await mkdtemp(join(tmpdir(), 'mcp-test-keys-'));
    const { privateKey } = generateKeyPairSync('ed25519');
    await writeFile(
      join(keyDir, 'audit-signing.key'),
      privateKey.export({ type: 'pkcs8', format: 'pem' }),
      { mode: 0o600 },
    );
    process.env[KEY_DIR_VAR] = keyDir;
    process.env.AUDIT_SIGNING_KEY_FILE ??= join(keyDir, 'audit-signing.key');
  }
  const runId = `${Date.now().toString(36)}_${process.pid}`;
  process.env[RUN_ID_VAR] = runId;
  process.env[SERVER_URL_VAR] = serverUrl;

  const template = templateName(runId);
  await withAdmin(serverUrl, (c) => c.query(`CREATE DATABASE "${template}"`));
  const dataSource = new DataSource(
    dataSourceOptions({ url: databaseUrl(serverUrl, template), entities: false }),
  );
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  await dataSource.destroy();

  const role = runtimeRoleName(runId);
  const password = randomBytes(18).toString('base64url');
  await ensureLoginRole(serverUrl, role, password);
  process.env[RUNTIME_ROLE_VAR] = role;
  process.env[RUNTIME_PASSWORD_VAR] = password;
}
