import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Workflows1795600000000 implements MigrationInterface {
  name = 'Workflows1795600000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE workflow_definitions (
        id          uuid           PRIMARY KEY DEFAULT gen_random_uuid(),
        name        text           NOT NULL CONSTRAINT workflow_definitions_name_key UNIQUE,
        description text           NOT NULL DEFAULT '',
        steps       jsonb          NOT NULL CHECK (jsonb_typeof(steps) = 'array'),
        created_at  timestamptz(3) NOT NULL DEFAULT now(),
        updated_at  timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE workflow_runs (
        id                     uuid           PRIMARY KEY DEFAULT gen_random_uuid(),
        workflow_definition_id uuid           NOT NULL REFERENCES workflow_definitions (id) ON DELETE RESTRICT,
        parameters             jsonb          NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
        status                 text           NOT NULL DEFAULT 'PENDING'
                               CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        correlation_id         text           NOT NULL,
        started_at             timestamptz(3),
        finished_at            timestamptz(3),
        error                  text,
        created_at             timestamptz(3) NOT NULL DEFAULT now(),
        updated_at             timestamptz(3) NOT NULL DEFAULT now()
      )`);
    // A workflow's runs, newest first (optionally by status); the timeout sweep's candidates.
    await q.query(
      `CREATE INDEX workflow_runs_definition_idx ON workflow_runs (workflow_definition_id, created_at, id)`,
    );
    await q.query(
      `CREATE INDEX workflow_runs_definition_status_idx ON workflow_runs (workflow_definition_id, status, created_at, id)`,
    );
    await q.query(
      `CREATE INDEX workflow_runs_running_idx ON workflow_runs (started_at) WHERE status = 'RUNNING'`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE workflow_runs`);
    await q.query(`DROP TABLE workflow_definitions`);
  }
}
