import {
  Check,
  Column,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
} from 'typeorm';
import { WorkflowRun } from './workflow-run.entity';

export const STEP_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/**
 * One executed step of a run: the input it was called with (templates resolved, secret-looking
 * keys redacted), its output (capped: a larger one is kept as a truncated preview), its error.
 * Written by the executor only; the run's status changes stay with the engine.
 */
@Entity({ name: 'workflow_run_steps' })
// Mirrors the migration (names included) so `migration:generate` sees no difference.
@Unique('workflow_run_steps_run_index_key', ['runId', 'index'])
@Check('workflow_run_steps_index_check', `step_index >= 0`)
@Check(
  'workflow_run_steps_status_check',
  `status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')`,
)
export class WorkflowRunStep {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'run_id', type: 'uuid' })
  runId: string;

  @ManyToOne(() => WorkflowRun, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'workflow_run_steps_run_id_fkey' })
  run?: WorkflowRun;

  @Column({ name: 'step_index', type: 'integer' })
  index: number;

  @Column({ type: 'text' })
  name: string;

  @Column({ name: 'mcp_definition_id', type: 'uuid' })
  mcpDefinitionId: string;

  @Column({ type: 'text' })
  tool: string;

  @Column({ type: 'text' })
  status: StepStatus;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  input: Record<string, unknown>;

  @Column({ type: 'jsonb', nullable: true })
  output: unknown;

  /** Size of the whole output as JSON, before any truncation. */
  @Column({ name: 'output_bytes', type: 'integer', nullable: true })
  outputBytes: number | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ name: 'started_at', type: 'timestamptz', precision: 3, default: () => 'now()' })
  startedAt: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;

  @Column({ name: 'duration_ms', type: 'integer', nullable: true })
  durationMs: number | null;
}
