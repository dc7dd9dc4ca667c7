import { ApiProperty } from '@nestjs/swagger';
import { STEP_STATUSES, type StepStatus } from '../entities/workflow-run-step.entity';
import { MAX_STORED_OUTPUT_BYTES } from '../executor/step-recorder';

export class WorkflowRunStepDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) runId: string;
  @ApiProperty({ description: "The step's position in the workflow, from 0" }) index: number;
  @ApiProperty() name: string;
  @ApiProperty({ format: 'uuid' }) mcpDefinitionId: string;
  @ApiProperty() tool: string;
  @ApiProperty({ enum: STEP_STATUSES }) status: StepStatus;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'The arguments as called (templates resolved), secret-looking keys "[REDACTED]"',
  })
  input: Record<string, unknown>;
  @ApiProperty({
    nullable: true,
    description: `\`{ content, structuredContent? }\`; above ${MAX_STORED_OUTPUT_BYTES} bytes of JSON, \`{ truncated: true, preview }\``,
  })
  output: unknown;
  @ApiProperty({ nullable: true, type: Number, description: 'Size of the whole output as JSON' })
  outputBytes: number | null;
  @ApiProperty({ nullable: true, type: String }) error: string | null;
  @ApiProperty({ format: 'date-time' }) startedAt: Date;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) finishedAt: Date | null;
  @ApiProperty({ nullable: true, type: Number }) durationMs: number | null;
}

/** Every step of a run (a workflow has at most 100), in order. */
export class WorkflowRunStepListDto {
  @ApiProperty({ type: [WorkflowRunStepDto] }) items: WorkflowRunStepDto[];
}
