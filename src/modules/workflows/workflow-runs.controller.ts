import { Body, Controller, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiStandardErrors, ApiUuidParam, UuidParam } from '@/common/openapi/api-errors.decorator';
import { Roles } from '@/modules/identity';
import { ChangeRunStatusDto } from './dto/workflow.dto';
import { WorkflowRunDto } from './dto/workflow-responses.dto';
import type { WorkflowRun } from './entities/workflow-run.entity';
import { WorkflowEngineService } from './workflow-engine.service';
import { WorkflowsService } from './workflows.service';

/** Runs, and the engine's state machine for API callers (an external runner). */
@ApiTags('workflow-runs')
@Controller('workflow-runs')
export class WorkflowRunsController {
  constructor(
    private readonly workflows: WorkflowsService,
    private readonly engine: WorkflowEngineService,
  ) {}

  @Get(':id')
  @Roles('viewer')
  @ApiOperation({ operationId: 'getWorkflowRun', summary: 'Fetch a run' })
  @ApiOkResponse({ type: WorkflowRunDto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such run' })
  findOne(@UuidParam() id: string): Promise<WorkflowRun> {
    return this.workflows.findRun(id);
  }

  @Patch(':id/status')
  @Roles('operator')
  @ApiOperation({
    operationId: 'changeWorkflowRunStatus',
    summary: 'Move a run (audited by the engine: UPDATE WORKFLOW_RUN { status, previousStatus })',
  })
  @ApiOkResponse({ type: WorkflowRunDto })
  @ApiUuidParam()
  @ApiStandardErrors({
    notFound: 'No such run',
    conflict: 'Not a legal transition from the current status',
    body: true,
  })
  async changeStatus(
    @UuidParam() id: string,
    @Body() dto: ChangeRunStatusDto,
  ): Promise<WorkflowRun> {
    return (await this.engine.transition(id, dto.status, dto.error)).run;
  }

  @Post(':id/cancel')
  @Roles('operator')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'cancelWorkflowRun',
    summary: 'Cancel a pending or running run (audited: UPDATE WORKFLOW_RUN)',
  })
  @ApiOkResponse({ type: WorkflowRunDto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such run', conflict: 'The run has already finished' })
  async cancel(@UuidParam() id: string): Promise<WorkflowRun> {
    return (await this.engine.transition(id, 'CANCELLED')).run;
  }
}
