import { Module } from '@nestjs/common';
import { McpDefinitionsModule } from '@/modules/mcp-definitions';
import { WorkflowEngineService } from './workflow-engine.service';
import { WorkflowStepRecorder } from './executor/step-recorder';
import { WorkflowExecutor } from './executor/workflow-executor';
import { WorkflowRunSweeper } from './workflow-run-sweeper';
import { WorkflowRunsController } from './workflow-runs.controller';
import { WorkflowsController } from './workflows.controller';
import { WorkflowsService } from './workflows.service';

/** Workflow definitions, runs and the engine. Audited through `@Audited` only. */
@Module({
  imports: [McpDefinitionsModule],
  controllers: [WorkflowsController, WorkflowRunsController],
  providers: [
    WorkflowsService,
    WorkflowEngineService,
    WorkflowRunSweeper,
    WorkflowStepRecorder,
    WorkflowExecutor,
  ],
})
export class WorkflowsModule {}
