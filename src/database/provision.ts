import type { Env } from '@/config/env';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded-postgres';

export interface ProvisionedDatabase {
  url: string;
  embedded?: EmbeddedPostgresHandle;
}

/** `DATABASE_URL` set → that server; unset → the embedded PostgreSQL under EMBEDDED_PG_DATA_DIR. */
export async function provisionDatabase(
  env: Pick<Env, 'DATABASE_URL' | 'EMBEDDED_PG_DATA_DIR' | 'EMBEDDED_PG_PORT'>,
  log: (message: string, level?: 'info' | 'debug') => void,
): Promise<ProvisionedDatabase> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL };
  const embedded = await startEmbeddedPostgres({
    dataDir: env.EMBEDDED_PG_DATA_DIR,
    port: env.EMBEDDED_PG_PORT,
    log,
  });
  return { url: embedded.url, embedded };
}
