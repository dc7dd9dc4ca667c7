import type { MigrationInterface, QueryRunner } from 'typeorm';

export class McpDefinitions1795500000000 implements MigrationInterface {
  name = 'McpDefinitions1795500000000';

  // Timestamps in milliseconds: what a JavaScript Date holds, so keyset cursors are exact.
  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE mcp_definitions (
        id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        name        text        NOT NULL CONSTRAINT mcp_definitions_name_key UNIQUE,
        description text        NOT NULL DEFAULT '',
        transport   text        NOT NULL CHECK (transport IN ('stdio', 'sse', 'streamable-http')),
        command     text,
        args        text[]      NOT NULL DEFAULT '{}',
        url         text,
        env         jsonb       NOT NULL DEFAULT '{}',
        tags        text[]      NOT NULL DEFAULT '{}',
        created_at  timestamptz(3) NOT NULL DEFAULT now(),
        updated_at  timestamptz(3) NOT NULL DEFAULT now(),
        CHECK ((transport = 'stdio') = (command IS NOT NULL)),
        CHECK ((transport = 'stdio') = (url IS NULL))
      )`);
    // name: unique (also serves the keyset order and `name` prefix filter); tags: containment.
    await q.query(
      `CREATE INDEX mcp_definitions_name_prefix_idx ON mcp_definitions (name text_pattern_ops)`,
    );
    await q.query(`CREATE INDEX mcp_definitions_tags_idx ON mcp_definitions USING gin (tags)`);
    await q.query(
      `CREATE INDEX mcp_definitions_transport_idx ON mcp_definitions (transport, name)`,
    );

    await q.query(`
      CREATE TABLE mcp_versions (
        id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        mcp_definition_id uuid        NOT NULL REFERENCES mcp_definitions (id) ON DELETE RESTRICT,
        version           text        NOT NULL,
        manifest          jsonb       NOT NULL CHECK (jsonb_typeof(manifest) = 'object'),
        changelog         text        NOT NULL DEFAULT '',
        created_at        timestamptz(3) NOT NULL DEFAULT now(),
        CONSTRAINT mcp_versions_definition_version_key UNIQUE (mcp_definition_id, version)
      )`);
    await q.query(
      `CREATE INDEX mcp_versions_definition_created_idx ON mcp_versions (mcp_definition_id, created_at, id)`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE mcp_versions`);
    await q.query(`DROP TABLE mcp_definitions`);
  }
}
