import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { AuditedEntity } from '@/modules/auditing';

export interface WorkflowStep {
  name: string;
  mcpDefinitionId: string;
  tool: string;
  input: Record<string, unknown>;
}

@AuditedEntity('WORKFLOW_DEFINITION')
@Entity({ name: 'workflow_definitions' })
// Mirrors the migration (names included) so `migration:generate` sees no difference.
@Unique('workflow_definitions_name_key', ['name'])
@Check('workflow_definitions_steps_check', `jsonb_typeof(steps) = 'array'`)
export class WorkflowDefinition {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  @Column({ type: 'jsonb' })
  steps: WorkflowStep[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
