import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * HTTP headers for sse / streamable-http definitions (a string map like `env`; stdio has
 * none). Sealing the existing plain-text `env` values is not done here: it needs the secrets
 * key, which migrations cannot see; the app's start-up step (`SecretsSealer`) does it, after
 * the migrations, idempotently.
 */
export class McpSecretHeaders1795830000000 implements MigrationInterface {
  name = 'McpSecretHeaders1795830000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE mcp_definitions ADD COLUMN headers jsonb NOT NULL DEFAULT '{}'`);
    await q.query(
      `ALTER TABLE mcp_definitions ADD CONSTRAINT mcp_definitions_headers_check
         CHECK (transport <> 'stdio' OR headers = '{}'::jsonb)`,
    );
  }

  /** The headers go; `env` values stay sealed (opening them needs the key, not SQL). */
  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE mcp_definitions DROP COLUMN headers`);
  }
}
