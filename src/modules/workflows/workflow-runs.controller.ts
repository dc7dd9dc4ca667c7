import { Body, Controller, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiStandardErrors, ApiUuidParam, UuidParam } from '@/common/openapi/api-errors.decorator';
import { Roles } from '@/modules/identity';
import { ChangeRunStatusDto } from './dto/workflow.dto';
import { WorkflowRunDto } from './dto/workflow-responses.dto';
import type { WorkflowRun } from './entities/workflow-run.entity';
import { WorkflowEngineService } from './workflow-engine.service';
import { WorkflowsService } from './workflows.service';
import { WorkflowExecutor } from './executor/workflow-executor';
import { WorkflowStepRecorder } from './executor/step-recorder';
import { WorkflowRunStepListDto } from './dto/workflow-run-step.dto';
import type { WorkflowRunStep } from './entities/workflow-run-step.entity';

/** Runs, and the engine's state machine for API callers (an external runner). */
@ApiTags('workflow-runs')
@Controller('workflow-runs')
export class WorkflowRunsController {
  constructor(
    private readonly workflows: WorkflowsService,
    private readonly engine: WorkflowEngineService,
    private readonly executor: WorkflowExecutor,
    private readonly steps: WorkflowStepRecorder,
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
    const { run } = await this.engine.transition(id, dto.status, dto.error);
    this.executor.statusChanged(id);
    return run;
  }

  @Post(':id/cancel')
  @Roles('operator')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'cancelWorkflowRun',
    summary:
      'Cancel a pending or running run; a call in flight is aborted and its server stopped (audited: UPDATE WORKFLOW_RUN)',
  })
  @ApiOkResponse({ type: WorkflowRunDto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such run', conflict: 'The run has already finished' })
  async cancel(@UuidParam() id: string): Promise<WorkflowRun> {
    const { run } = await this.engine.transition(id, 'CANCELLED');
    // A run executing here stops its call (once this commits: the check waits for it).
    this.executor.statusChanged(id);
    return run;
  }

  @Get(':id/steps')
  @Roles('viewer')
  @ApiOperation({
    operationId: 'listWorkflowRunSteps',
    summary:
      "A run's executed steps in order: input as called (secrets redacted), output (capped), error, timing",
  })
  @ApiOkResponse({ type: WorkflowRunStepListDto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such run' })
  async listSteps(@UuidParam() id: string): Promise<{ items: WorkflowRunStep[] }> {
    await this.workflows.findRun(id);
    return { items: await this.steps.list(id) };
  }
}
