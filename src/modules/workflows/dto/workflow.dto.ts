import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { PageQueryDto } from '@/common/pagination/page-query.dto';
import { IsJsonObject, IsResourceName, RESOURCE_NAME } from '@/common/validation/validators';
import { RUN_STATUSES, type RunStatus } from '../entities/workflow-run.entity';

export class WorkflowStepDto {
  @ApiProperty({ example: 'read-config', maxLength: 100 })
  @IsString()
  @MaxLength(100)
  @Matches(/\S/, { message: 'name must not be blank' })
  name: string;

  @ApiProperty({ format: 'uuid', description: 'An existing MCP definition' })
  @IsUUID('all')
  mcpDefinitionId: string;

  @ApiProperty({ example: 'read_file', maxLength: 200 })
  @IsString()
  @MaxLength(200)
  @Matches(/\S/, { message: 'tool must not be blank' })
  tool: string;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { path: '/etc/hosts' } })
  @IsJsonObject(64 * 1024)
  input: Record<string, unknown>;
}

export class CreateWorkflowDto {
  @ApiProperty({
    example: 'nightly-report',
    description: 'Unique; same rules as MCP definition names',
    pattern: RESOURCE_NAME.source,
    maxLength: 100,
  })
  @IsResourceName()
  name: string;

  @ApiPropertyOptional({ maxLength: 2000, description: 'Empty when left out' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string;

  @ApiProperty({ type: [WorkflowStepDto], minItems: 1, maxItems: 100 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => WorkflowStepDto)
  steps: WorkflowStepDto[];
}

/** Any subset; `steps` replaces the whole list. */
export class UpdateWorkflowDto extends PartialType(CreateWorkflowDto) {}

export class StartRunDto {
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: '`{}` when left out (as is the whole body)',
  })
  @IsOptional()
  @IsJsonObject(256 * 1024)
  parameters?: Record<string, unknown>;
}

export class ChangeRunStatusDto {
  @ApiProperty({
    enum: RUN_STATUSES,
    description: 'PENDING→RUNNING→SUCCEEDED|FAILED; PENDING|RUNNING→CANCELLED',
  })
  @IsIn(RUN_STATUSES)
  status: RunStatus;

  @ApiPropertyOptional({ description: 'Why the run failed (status FAILED only)', maxLength: 4000 })
  @IsOptional()
  @IsString()
  @MaxLength(4000)
  error?: string;
}

export class ListRunsDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: RUN_STATUSES })
  @IsOptional()
  @IsIn(RUN_STATUSES)
  status?: RunStatus;
}
