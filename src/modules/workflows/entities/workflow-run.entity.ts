import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { WorkflowDefinition } from './workflow-definition.entity';

export const RUN_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The run state machine: the only moves the engine makes. */
export const TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  PENDING: ['RUNNING', 'CANCELLED'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};

/**
 * One run of a workflow. Its status changes only through `WorkflowEngineService`, whose
 * methods are `@Audited` (so runs are not an `@AuditedEntity`: the entries say
 * `{ status, previousStatus }`, not a field diff).
 */
@Entity({ name: 'workflow_runs' })
// Mirrors the migration (names included) so `migration:generate` sees no difference.
@Index('workflow_runs_definition_idx', ['workflowDefinitionId', 'createdAt', 'id'])
@Index('workflow_runs_definition_status_idx', ['workflowDefinitionId', 'status', 'createdAt', 'id'])
@Index('workflow_runs_running_idx', ['startedAt'], { where: `status = 'RUNNING'` })
@Index('workflow_runs_pending_idx', ['createdAt', 'id'], { where: `status = 'PENDING'` })
@Check('workflow_runs_parameters_check', `jsonb_typeof(parameters) = 'object'`)
@Check(
  'workflow_runs_status_check',
  `status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')`,
)
export class WorkflowRun {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'workflow_definition_id', type: 'uuid' })
  workflowDefinitionId: string;

  /** The schema's foreign key (RESTRICT: a workflow with runs cannot be deleted). */
  @ManyToOne(() => WorkflowDefinition, { onDelete: 'RESTRICT' })
  @JoinColumn({
    name: 'workflow_definition_id',
    foreignKeyConstraintName: 'workflow_runs_workflow_definition_id_fkey',
  })
  workflow?: WorkflowDefinition;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  parameters: Record<string, unknown>;

  @Column({ type: 'text', default: 'PENDING' })
  status: RunStatus;

  /** Every audit entry of this run carries it: `GET /action-logs?correlationId=` tells its story. */
  @Column({ name: 'correlation_id', type: 'text' })
  correlationId: string;

  @Column({ name: 'started_at', type: 'timestamptz', precision: 3, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
