import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Runs execute in the app:
 * - `workflow_run_steps`: one row per executed step (input as called, redacted; output capped);
 * - a partial index on PENDING runs, the executor's `FOR UPDATE SKIP LOCKED` queue;
 * - the action type `EXECUTE` (a tool call) in action_log's CHECK. The constraint is replaced
 *   (no row is touched: the log is append-only).
 */
export class WorkflowExecution1795930000000 implements MigrationInterface {
  name = 'WorkflowExecution1795930000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE workflow_run_steps (
        id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        run_id            uuid        NOT NULL,
        step_index        integer     NOT NULL,
        name              text        NOT NULL,
        mcp_definition_id uuid        NOT NULL,
        tool              text        NOT NULL,
        status            text        NOT NULL,
        input             jsonb       NOT NULL DEFAULT '{}',
        output            jsonb,
        output_bytes      integer,
        error             text,
        started_at        timestamptz(3) NOT NULL DEFAULT now(),
        finished_at       timestamptz(3),
        duration_ms       integer,
        CONSTRAINT workflow_run_steps_run_id_fkey FOREIGN KEY (run_id)
          REFERENCES workflow_runs (id) ON DELETE CASCADE,
        CONSTRAINT workflow_run_steps_run_index_key UNIQUE (run_id, step_index),
        CONSTRAINT workflow_run_steps_index_check CHECK (step_index >= 0),
        CONSTRAINT workflow_run_steps_status_check
          CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'))
      )`);
    await q.query(
      `CREATE INDEX workflow_runs_pending_idx ON workflow_runs (created_at, id) WHERE status = 'PENDING'`,
    );
    await q.query(`ALTER TABLE action_log DROP CONSTRAINT action_log_action_type_check`);
    await q.query(
      `ALTER TABLE action_log ADD CONSTRAINT action_log_action_type_check
         CHECK (action_type IN ('CREATE', 'READ', 'UPDATE', 'DELETE', 'EXECUTE'))`,
    );
  }

  /** Fails while EXECUTE entries exist: the log is not rewritten to go back. */
  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE action_log DROP CONSTRAINT action_log_action_type_check`);
    await q.query(
      `ALTER TABLE action_log ADD CONSTRAINT action_log_action_type_check
         CHECK (action_type IN ('CREATE', 'READ', 'UPDATE', 'DELETE'))`,
    );
    await q.query(`DROP INDEX workflow_runs_pending_idx`);
    await q.query(`DROP TABLE workflow_run_steps`);
  }
}
