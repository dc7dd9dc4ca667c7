import { ApiProperty } from '@nestjs/swagger';
import { RUN_STATUSES, type RunStatus } from '../entities/workflow-run.entity';
import { WorkflowStepDto } from './workflow.dto';

export class WorkflowDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty() description: string;
  @ApiProperty({ type: [WorkflowStepDto] }) steps: WorkflowStepDto[];
  @ApiProperty({ format: 'date-time' }) createdAt: Date;
  @ApiProperty({ format: 'date-time' }) updatedAt: Date;
}

export class WorkflowPageDto {
  @ApiProperty({ type: [WorkflowDto] }) items: WorkflowDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}

export class WorkflowRunDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) workflowDefinitionId: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) parameters: Record<string, unknown>;
  @ApiProperty({ enum: RUN_STATUSES }) status: RunStatus;
  @ApiProperty({ description: 'Shared by every audit entry of this run' }) correlationId: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) startedAt: Date | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) finishedAt: Date | null;
  @ApiProperty({ nullable: true, type: String }) error: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: Date;
  @ApiProperty({ format: 'date-time' }) updatedAt: Date;
}

export class WorkflowRunPageDto {
  @ApiProperty({ type: [WorkflowRunDto] }) items: WorkflowRunDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}
