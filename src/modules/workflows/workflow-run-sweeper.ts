import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';
import { ConflictError, NotFoundError } from '@/common/errors/domain-error';
import { serializeError } from '@/common/logging/logging.module';
import type { Env } from '@/config/env';
import { PeriodicTask } from '@/common/periodic-task';
import { WorkflowEngineService } from './workflow-engine.service';

/**
 * Every WORKFLOW_SWEEP_INTERVAL_SECONDS, marks FAILED the runs that have been RUNNING longer
 * than WORKFLOW_RUN_TIMEOUT_SECONDS — through the engine, so each change is audited (actor
 * `system`). Safe with several instances: the engine re-checks each run under its row lock.
 */
@Injectable()
export class WorkflowRunSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WorkflowRunSweeper.name);
  private readonly timeoutSeconds: number;
  private readonly task: PeriodicTask<number>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly engine: WorkflowEngineService,
    config: ConfigService<Env, true>,
  ) {
    this.timeoutSeconds = config.get('WORKFLOW_RUN_TIMEOUT_SECONDS', { infer: true });
    this.task = new PeriodicTask(
      () => this.sweepOnce(),
      config.get('WORKFLOW_SWEEP_INTERVAL_SECONDS', { infer: true }) * 1000,
    );
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  /** Stops before the pool closes (see PeriodicTask). */
  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /** One pass; returns how many runs it failed. Overlapping calls share one pass. */
  sweep(): Promise<number> {
    return this.task.run();
  }

  private async sweepOnce(): Promise<number> {
    let failed = 0;
    try {
      const rows: { id: string }[] = await this.dataSource.query(
        `SELECT id::text AS id FROM workflow_runs
         WHERE status = 'RUNNING' AND started_at < now() - make_interval(secs => $1)
         ORDER BY started_at LIMIT 100`,
        [this.timeoutSeconds],
      );
      for (const { id } of rows) {
        try {
          await this.engine.failTimedOut(id, this.timeoutSeconds);
          failed++;
        } catch (error) {
          // Another instance (or a caller) moved it first: nothing to do. Anything else is
          // logged, and the sweep goes on with the next run.
          if (error instanceof ConflictError || error instanceof NotFoundError) continue;
          this.logger.error(
            { err: serializeError(error), runId: id },
            'Could not time out a workflow run',
          );
        }
      }
    } catch (error) {
      this.logger.error(
        { err: serializeError(error) },
        'Workflow run sweep failed; will try again',
      );
    }
    if (failed > 0) this.logger.log(`Marked ${failed} timed-out run(s) FAILED`);
    return failed;
  }
}
