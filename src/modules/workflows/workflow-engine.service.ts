import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ConflictError, InvalidInputError, NotFoundError } from '@/common/errors/domain-error';
import { UUID } from '@/common/validation/validators';
import { Audited, type AuditedOptions } from '@/modules/auditing';
import { TRANSITIONS, WorkflowRun, type RunStatus } from './entities/workflow-run.entity';

export interface Transition {
  run: WorkflowRun;
  previousStatus: RunStatus;
}

/**
 * How every status change is audited: UPDATE WORKFLOW_RUN `{ status, previousStatus }` (plus
 * `error` for FAILED), under the run's own correlation id. The actor is the caller over HTTP,
 * `system` for changes the engine makes by itself.
 */
const AUDIT_TRANSITION: AuditedOptions<Transition> = {
  action: 'UPDATE',
  entity: 'WORKFLOW_RUN',
  entityId: ({ result }) => result.run.id,
  correlationId: ({ result }) => result.run.correlationId,
  details: ({ result }) => ({
    status: result.run.status,
    previousStatus: result.previousStatus,
    ...(result.run.error ? { error: result.run.error } : {}),
  }),
};

/**
 * The run state machine: PENDING→RUNNING, RUNNING→SUCCEEDED|FAILED, PENDING|RUNNING→CANCELLED.
 * Each change locks the run (`FOR UPDATE`) in its transaction, so of concurrent identical
 * requests exactly one succeeds and writes one entry; the others get 409.
 */
@Injectable()
export class WorkflowEngineService {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  @Audited(AUDIT_TRANSITION)
  async transition(runId: string, to: RunStatus, error?: string): Promise<Transition> {
    if (error !== undefined && to !== 'FAILED') {
      throw new InvalidInputError('error is only allowed when status is FAILED');
    }
    const run = await this.lock(runId);
    return this.apply(run, to, error ?? null);
  }

  /**
   * Marks a run FAILED because it stayed RUNNING longer than `timeoutSeconds`. Checked again
   * under the row lock, so with several instances sweeping, exactly one does it (the others
   * get a ConflictError and write nothing).
   */
  @Audited(AUDIT_TRANSITION)
  async failTimedOut(runId: string, timeoutSeconds: number): Promise<Transition> {
    const run = await this.lock(runId);
    // The database's clock decides, as it did when the sweep picked the run.
    const [check]: { timedOut: boolean }[] = await this.txHost.tx.query(
      `SELECT (status = 'RUNNING' AND started_at < now() - make_interval(secs => $2)) AS "timedOut"
       FROM workflow_runs WHERE id = $1`,
      [runId, timeoutSeconds],
    );
    if (!check?.timedOut) throw new ConflictError(`Run ${runId} has not timed out`);
    return this.apply(run, 'FAILED', `Timed out after ${timeoutSeconds} s in RUNNING`);
  }

  private async lock(runId: string): Promise<WorkflowRun> {
    if (!UUID.test(runId)) throw new NotFoundError('Workflow run', runId);
    const run = await this.txHost.tx
      .getRepository(WorkflowRun)
      .findOne({ where: { id: runId }, lock: { mode: 'pessimistic_write' } });
    if (!run) throw new NotFoundError('Workflow run', runId);
    return run;
  }

  private async apply(run: WorkflowRun, to: RunStatus, error: string | null): Promise<Transition> {
    const previousStatus = run.status;
    if (!TRANSITIONS[previousStatus].includes(to)) {
      throw new ConflictError(`Run ${run.id} cannot move from ${previousStatus} to ${to}`);
    }
    const now = new Date();
    run.status = to;
    if (to === 'RUNNING') run.startedAt = now;
    if (TRANSITIONS[to].length === 0) run.finishedAt = now;
    if (to === 'FAILED') run.error = error;
    await this.txHost.tx.getRepository(WorkflowRun).save(run);
    return { run, previousStatus };
  }
}
