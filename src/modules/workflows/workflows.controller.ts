import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBody,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Page } from '@/common/pagination/cursor';
import { PageQueryDto } from '@/common/pagination/page-query.dto';
import { ApiStandardErrors, ApiUuidParam, UuidParam } from '@/common/openapi/api-errors.decorator';
import { Audited } from '@/modules/auditing';
import { Roles } from '@/modules/identity';
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
import { WorkflowExecutor } from './executor/workflow-executor';

@ApiTags('workflows')
@Controller('workflows')
export class WorkflowsController {
  constructor(
    private readonly workflows: WorkflowsService,
    private readonly executor: WorkflowExecutor,
  ) {}

  @Post()
  @Roles('editor')
  @Audited({ action: 'CREATE', entity: 'WORKFLOW_DEFINITION' })
  @ApiOperation({
    operationId: 'createWorkflow',
    summary: 'Create a workflow (audited: CREATE WORKFLOW_DEFINITION)',
  })
  @ApiCreatedResponse({ type: WorkflowDto })
  @ApiStandardErrors({ conflict: 'The name is taken', body: true })
  create(@Body() dto: CreateWorkflowDto): Promise<WorkflowDefinition> {
    return this.workflows.create(dto);
  }

  @Get()
  @Roles('viewer')
  @ApiOperation({ operationId: 'listWorkflows', summary: 'List workflows by name' })
  @ApiOkResponse({ type: WorkflowPageDto })
  @ApiStandardErrors()
  list(@Query() query: PageQueryDto): Promise<Page<WorkflowDefinition>> {
    return this.workflows.list(query);
  }

  @Get(':id')
  @Roles('viewer')
  @ApiOperation({ operationId: 'getWorkflow', summary: 'Fetch a workflow' })
  @ApiOkResponse({ type: WorkflowDto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such workflow' })
  findOne(@UuidParam() id: string): Promise<WorkflowDefinition> {
    return this.workflows.findOne(id);
  }

  @Patch(':id')
  @Roles('editor')
  @Audited({ action: 'UPDATE', entity: 'WORKFLOW_DEFINITION' })
  @ApiOperation({
    operationId: 'updateWorkflow',
    summary: 'Change a workflow (audited: UPDATE WORKFLOW_DEFINITION with details.changes)',
  })
  @ApiOkResponse({ type: WorkflowDto })
  @ApiUuidParam()
  @ApiStandardErrors({
    notFound: 'No such workflow',
    conflict: 'The new name is taken',
    body: true,
  })
  update(@UuidParam() id: string, @Body() dto: UpdateWorkflowDto): Promise<WorkflowDefinition> {
    return this.workflows.update(id, dto);
  }

  @Delete(':id')
  @Roles('editor')
  @HttpCode(204)
  @Audited({ action: 'DELETE', entity: 'WORKFLOW_DEFINITION' })
  @ApiOperation({
    operationId: 'deleteWorkflow',
    summary: 'Delete a workflow without runs (audited: DELETE WORKFLOW_DEFINITION)',
  })
  @ApiNoContentResponse()
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such workflow', conflict: 'The workflow has runs' })
  remove(@UuidParam() id: string): Promise<void> {
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
    operationId: 'createWorkflowRun',
    summary:
      'Start a run → PENDING; the executor picks it up (audited: CREATE WORKFLOW_RUN { status, parameters })',
  })
  @ApiCreatedResponse({ type: WorkflowRunDto })
  @ApiBody({ type: StartRunDto, required: false })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such workflow', body: true })
  async startRun(@UuidParam() id: string, @Body() dto: StartRunDto): Promise<WorkflowRun> {
    const run = await this.workflows.startRun(id, dto);
    this.executor.wake();
    return run;
  }

  @Get(':id/runs')
  @Roles('viewer')
  @ApiOperation({
    operationId: 'listWorkflowRuns',
    summary: "A workflow's runs, newest first (filter by status)",
  })
  @ApiOkResponse({ type: WorkflowRunPageDto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such workflow' })
  runs(@UuidParam() id: string, @Query() query: ListRunsDto): Promise<Page<WorkflowRun>> {
    return this.workflows.listRuns(id, query);
  }
}
