import { Body, Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '@/common/errors/error-response.dto';
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
  @ApiOperation({ summary: 'Fetch a run' })
  @ApiOkResponse({ type: WorkflowRunDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  findOne(@Param('id') id: string): Promise<WorkflowRun> {
    return this.workflows.findRun(id);
  }

  @Patch(':id/status')
  @Roles('operator')
  @ApiOperation({
    summary: 'Move a run (audited by the engine: UPDATE WORKFLOW_RUN { status, previousStatus })',
  })
  @ApiOkResponse({ type: WorkflowRunDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description: 'Not a legal transition from the current status',
  })
  async changeStatus(
    @Param('id') id: string,
    @Body() dto: ChangeRunStatusDto,
  ): Promise<WorkflowRun> {
    return (await this.engine.transition(id, dto.status, dto.error)).run;
  }

  @Post(':id/cancel')
  @Roles('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel a pending or running run (audited: UPDATE WORKFLOW_RUN)' })
  @ApiOkResponse({ type: WorkflowRunDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The run has already finished' })
  async cancel(@Param('id') id: string): Promise<WorkflowRun> {
    return (await this.engine.transition(id, 'CANCELLED')).run;
  }
}
