import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { DataSource } from 'typeorm';
import { validateEnv } from '@/config/env';
import { dataSourceOptions } from '@/database/data-source-options';
import { provisionDatabase } from '@/database/provision';
import { SecretsBox } from './secrets-box';
import { loadSecretsBox, parseSecretsKey, writeKeyFile } from './secrets-key';
import { resealDefinitions } from './secrets-sealer';

/**
 * `npm run secrets:rotate`: re-encrypts every MCP secret with a new key, in one transaction.
 * Run it with the service stopped (instances still running would seal with the old key).
 *
 * - Key in the local file (development): a new key is generated (or MCP_SECRETS_NEW_KEY
 *   taken); it is written to `mcp-secrets.key.next` first, the rows are re-encrypted, and
 *   only after the COMMIT does it replace `mcp-secrets.key` (a rename). Interrupted between
 *   the two, `.next` holds the key the rows are sealed with.
 * - Key in MCP_SECRETS_KEY: MCP_SECRETS_NEW_KEY is required; afterwards, set MCP_SECRETS_KEY
 *   to it and start the service.
 */
async function main(): Promise<void> {
  const env = validateEnv(process.env);
  const { box: current, file } = await loadSecretsBox(env, () => undefined, { create: false });
  let newKey: Buffer;
  if (env.MCP_SECRETS_NEW_KEY)
    newKey = parseSecretsKey(env.MCP_SECRETS_NEW_KEY, 'MCP_SECRETS_NEW_KEY');
  else if (file) newKey = randomBytes(32);
  else
    throw new Error(
      'MCP_SECRETS_NEW_KEY is required when the key comes from MCP_SECRETS_KEY (e.g. `openssl rand -base64 32`)',
    );
  const next = new SecretsBox(newKey, file ?? 'MCP_SECRETS_NEW_KEY');
  if (next.kid === current.kid) throw new Error('The new key is the current key');

  const db = await provisionDatabase(env, (m) => console.error(m));
  // It migrates first: as the owner when there are two roles.
  const dataSource = new DataSource(dataSourceOptions({ url: db.migrationUrl, entities: false }));
  try {
    await dataSource.initialize();
    await dataSource.runMigrations({ transaction: 'each' });
    const pending = file && `${file}.next`;
    if (pending) await writeKeyFile(pending, newKey);
    const result = await dataSource
      .transaction((m) => resealDefinitions(m, next, current))
      .catch(async (error: unknown) => {
        if (pending) await rm(pending, { force: true }); // rolled back: the old key still holds
        throw error;
      });
    if (pending && file) await rename(pending, file);
    console.log(
      `Re-encrypted ${result.values} secret value(s) of ${result.definitions} MCP definition(s): ` +
        `key ${current.kid} → ${next.kid}.` +
        (file
          ? ` The new key is in ${file}.`
          : ' Now set MCP_SECRETS_KEY to the value of MCP_SECRETS_NEW_KEY and start the service.'),
    );
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    await db.embedded?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(`Key rotation failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
