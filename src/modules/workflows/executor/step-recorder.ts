import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Audited, redact } from '@/modules/auditing';
import { WorkflowRunStep, type StepStatus } from '../entities/workflow-run-step.entity';

/** A step's output is stored up to this many bytes of JSON; beyond, a truncated preview. */
export const MAX_STORED_OUTPUT_BYTES = 16 * 1024;
/** Error texts are kept to this length. */
export const MAX_ERROR_LENGTH = 2000;

export interface StepStart {
  runId: string;
  index: number;
  name: string;
  mcpDefinitionId: string;
  tool: string;
  input: Record<string, unknown>;
}

export interface StepEnd {
  status: Exclude<StepStatus, 'RUNNING'>;
  output?: unknown;
  error?: string | null;
}

/** What `finish` returns: the stored step, plus what its EXECUTE entry says. */
export interface ExecutedStep {
  step: WorkflowRunStep;
  correlationId: string;
  mcpVersion: string | null;
}

/**
 * The step records, and the audit of each tool call: `finish` is `@Audited` EXECUTE
 * WORKFLOW_RUN under the run's correlation id (actor `system`), written in the same
 * transaction as the step's final state. Inputs are stored redacted like audit details.
 */
@Injectable()
export class WorkflowStepRecorder {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  /** The step, RUNNING (a row of its own: `GET /workflow-runs/:id/steps` shows it live). */
  begin(start: StepStart): Promise<WorkflowRunStep> {
    const repo = this.txHost.tx.getRepository(WorkflowRunStep);
    return repo.save(
      repo.create({
        ...start,
        input: redact(start.input),
        status: 'RUNNING',
        output: null,
        outputBytes: null,
        error: null,
        startedAt: new Date(),
        finishedAt: null,
        durationMs: null,
      }),
    );
  }

  @Audited({
    action: 'EXECUTE',
    entity: 'WORKFLOW_RUN',
    entityId: ({ result }: { result: ExecutedStep }) => result.step.runId,
    correlationId: ({ result }: { result: ExecutedStep }) => result.correlationId,
    details: ({ result: { step, mcpVersion } }: { result: ExecutedStep }) => ({
      step: step.name,
      index: step.index,
      mcpDefinitionId: step.mcpDefinitionId,
      mcpVersion,
      tool: step.tool,
      input: step.input,
      durationMs: step.durationMs,
      outcome: step.status,
      outputBytes: step.outputBytes,
      ...(step.error ? { error: step.error } : {}),
    }),
  })
  async finish(
    step: WorkflowRunStep,
    end: StepEnd,
    correlationId: string,
    mcpVersion: string | null,
  ): Promise<ExecutedStep> {
    const finishedAt = new Date();
    step.status = end.status;
    step.error = end.error ? end.error.slice(0, MAX_ERROR_LENGTH) : null;
    if (end.output !== undefined) {
      const json = JSON.stringify(end.output);
      step.outputBytes = Buffer.byteLength(json);
      step.output =
        step.outputBytes <= MAX_STORED_OUTPUT_BYTES
          ? end.output
          : { truncated: true, preview: truncateUtf8(json, MAX_STORED_OUTPUT_BYTES) };
    }
    step.finishedAt = finishedAt;
    step.durationMs = finishedAt.getTime() - step.startedAt.getTime();
    await this.txHost.tx.getRepository(WorkflowRunStep).save(step);
    return { step, correlationId, mcpVersion };
  }

  list(runId: string): Promise<WorkflowRunStep[]> {
    return this.txHost.tx
      .getRepository(WorkflowRunStep)
      .find({ where: { runId }, order: { index: 'ASC' } });
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8').subarray(0, maxBytes);
  // A cut inside a multi-byte character decodes as U+FFFD: drop it.
  return buf.toString('utf8').replace(/\uFFFD$/, '');
}
