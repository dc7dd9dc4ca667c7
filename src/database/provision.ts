import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Env } from '@/config/env';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded-postgres';
import { EMBEDDED_RUNTIME_ROLE, ensureLoginRole, withCredentials } from './roles';

export interface ProvisionedDatabase {
  /** What the service's pool connects with. */
  url: string;
  /** What migrations run with (the owner); the same as `url` when only one is configured. */
  migrationUrl: string;
  embedded?: EmbeddedPostgresHandle;
}

/**
 * `DATABASE_URL` set → that server (migrations as DATABASE_MIGRATION_URL when set); unset →
 * the embedded PostgreSQL under EMBEDDED_PG_DATA_DIR: its superuser migrates, the service
 * connects as `mcp_runtime`, a member of `mcp_app` created here with a generated password.
 */
export async function provisionDatabase(
  env: Pick<
    Env,
    'DATABASE_URL' | 'DATABASE_MIGRATION_URL' | 'EMBEDDED_PG_DATA_DIR' | 'EMBEDDED_PG_PORT'
  >,
  log: (message: string, level?: 'info' | 'debug') => void,
): Promise<ProvisionedDatabase> {
  if (env.DATABASE_URL) {
    return { url: env.DATABASE_URL, migrationUrl: env.DATABASE_MIGRATION_URL ?? env.DATABASE_URL };
  }
  const embedded = await startEmbeddedPostgres({
    dataDir: env.EMBEDDED_PG_DATA_DIR,
    port: env.EMBEDDED_PG_PORT,
    log,
  });
  try {
    const password = await runtimePassword(
      `${resolve(env.EMBEDDED_PG_DATA_DIR)}.runtime-credentials`,
    );
    await ensureLoginRole(embedded.url, EMBEDDED_RUNTIME_ROLE, password);
    const url = withCredentials(embedded.url, EMBEDDED_RUNTIME_ROLE, password);
    return { url, migrationUrl: embedded.url, embedded };
  } catch (error) {
    await embedded.stop();
    throw error;
  }
}

/** The runtime role's password, generated once beside the data directory (like the superuser's). */
async function runtimePassword(file: string): Promise<string> {
  try {
    const kept = (await readFile(file, 'utf8')).trim();
    if (kept) return kept;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const password = randomBytes(18).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}
