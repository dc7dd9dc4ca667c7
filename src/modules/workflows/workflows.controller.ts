import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Page } from '@/common/pagination/cursor';
import { PageQueryDto } from '@/common/pagination/page-query.dto';
import { Audited } from '@/modules/auditing';
import { Roles } from '@/modules/identity';
import { ErrorResponseDto } from '@/common/errors/error-response.dto';
import { CreateWorkflowDto, ListRunsDto, StartRunDto, UpdateWorkflowDto } from './dto/workflow.dto';
import {
  WorkflowDto,
  WorkflowPageDto,
  WorkflowRunDto,
  WorkflowRunPageDto,
} from './dto/workflow-responses.dto';
import type { WorkflowDefinition } from './entities/workflow-definition.entity';
import type { WorkflowRun } from './entities/workflow-run.entity';
import { WorkflowsService } from './workflows.service';

@ApiTags('workflows')
@ApiBadRequestResponse({
  type: ErrorResponseDto,
  description: 'Invalid input (nothing is written)',
})
@Controller('workflows')
export class WorkflowsController {
  constructor(private readonly workflows: WorkflowsService) {}

  @Post()
  @Roles('editor')
  @Audited({ action: 'CREATE', entity: 'WORKFLOW_DEFINITION' })
  @ApiOperation({ summary: 'Create a workflow (audited: CREATE WORKFLOW_DEFINITION)' })
  @ApiCreatedResponse({ type: WorkflowDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The name is taken' })
  create(@Body() dto: CreateWorkflowDto): Promise<WorkflowDefinition> {
    return this.workflows.create(dto);
  }

  @Get()
  @Roles('viewer')
  @ApiOperation({ summary: 'List workflows by name' })
  @ApiOkResponse({ type: WorkflowPageDto })
  list(@Query() query: PageQueryDto): Promise<Page<WorkflowDefinition>> {
    return this.workflows.list(query);
  }

  @Get(':id')
  @Roles('viewer')
  @ApiOperation({ summary: 'Fetch a workflow' })
  @ApiOkResponse({ type: WorkflowDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  findOne(@Param('id') id: string): Promise<WorkflowDefinition> {
    return this.workflows.findOne(id);
  }

  @Patch(':id')
  @Roles('editor')
  @Audited({ action: 'UPDATE', entity: 'WORKFLOW_DEFINITION' })
  @ApiOperation({
    summary: 'Change a workflow (audited: UPDATE WORKFLOW_DEFINITION with details.changes)',
  })
  @ApiOkResponse({ type: WorkflowDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The new name is taken' })
  update(@Param('id') id: string, @Body() dto: UpdateWorkflowDto): Promise<WorkflowDefinition> {
    return this.workflows.update(id, dto);
  }

  @Delete(':id')
  @Roles('editor')
  @HttpCode(204)
  @Audited({ action: 'DELETE', entity: 'WORKFLOW_DEFINITION' })
  @ApiOperation({ summary: 'Delete a workflow without runs (audited: DELETE WORKFLOW_DEFINITION)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The workflow has runs' })
  remove(@Param('id') id: string): Promise<void> {
    return this.workflows.remove(id);
  }

  @Post(':id/runs')
  @Roles('operator')
  @Audited({
    action: 'CREATE',
    entity: 'WORKFLOW_RUN',
    details: ({ result }: { result: WorkflowRun }) => ({
      status: result.status,
      parameters: result.parameters,
    }),
    correlationId: ({ result }: { result: WorkflowRun }) => result.correlationId,
  })
  @ApiOperation({
    summary: 'Start a run → PENDING (audited: CREATE WORKFLOW_RUN { status, parameters })',
  })
  @ApiCreatedResponse({ type: WorkflowRunDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  startRun(@Param('id') id: string, @Body() dto: StartRunDto): Promise<WorkflowRun> {
    return this.workflows.startRun(id, dto);
  }

  @Get(':id/runs')
  @Roles('viewer')
  @ApiOperation({ summary: "A workflow's runs, newest first (filter by status)" })
  @ApiOkResponse({ type: WorkflowRunPageDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  runs(@Param('id') id: string, @Query() query: ListRunsDto): Promise<Page<WorkflowRun>> {
    return this.workflows.listRuns(id, query);
  }
}
