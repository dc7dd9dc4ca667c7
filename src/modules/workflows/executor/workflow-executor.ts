import {
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ClsService } from 'nestjs-cls';
import { ConflictError, NotFoundError } from '@/common/errors/domain-error';
import { SYSTEM_ACTOR, type RequestContext } from '@/common/context/request-context';
import { serializeError } from '@/common/logging/logging.module';
import type { Env } from '@/config/env';
import { McpConnector, McpDefinitionsService, type McpSession } from '@/modules/mcp-definitions';
import type { WorkflowStep } from '../entities/workflow-definition.entity';
import type { RunStatus, WorkflowRun } from '../entities/workflow-run.entity';
import { WorkflowEngineService } from '../workflow-engine.service';
import { WorkflowStepRecorder, type StepEnd } from './step-recorder';
import { renderInput, TemplateError, type TemplateScope } from './template';

/** Why a run's in-flight work was aborted. */
class Stop {
  constructor(
    readonly kind: 'moved' | 'shutdown',
    readonly status?: RunStatus,
  ) {}
}

interface Execution {
  abort: AbortController;
  done: Promise<void>;
  session?: McpSession;
}

/** After a wake, claims are retried at these delays: the start's transaction may not have committed yet. */
const WAKE_RETRIES_MS = [25, 150, 600];

/**
 * Executes PENDING runs in this process (WORKFLOW_EXECUTOR=on). Several instances share the
 * queue: a run is claimed with `FOR UPDATE SKIP LOCKED` in the transaction that moves it to
 * RUNNING (through the engine, so the change is audited as any other), so each run executes
 * exactly once. At most WORKFLOW_MAX_CONCURRENT_RUNS runs at a time here.
 *
 * A run's steps execute in order: input templates resolved, a fresh MCP session on the step's
 * definition (a spawned stdio server, or an HTTP one called with the run's correlation id),
 * `tools/call` bounded by WORKFLOW_STEP_TIMEOUT_SECONDS, the session closed (the server
 * stopped) whatever happens. Each call is a step record and an EXECUTE entry. A run moved away
 * from RUNNING meanwhile (cancel, an operator's PATCH) aborts its call; so does shutdown.
 */
@Injectable()
export class WorkflowExecutor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WorkflowExecutor.name);
  private readonly enabled: boolean;
  private readonly maxConcurrent: number;
  private readonly stepTimeoutMs: number;
  private readonly pollMs: number;
  private readonly inFlight = new Map<string, Execution>();
  private filling: Promise<void> | undefined;
  private refill = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly cls: ClsService<RequestContext>,
    private readonly engine: WorkflowEngineService,
    private readonly recorder: WorkflowStepRecorder,
    private readonly connector: McpConnector,
    private readonly mcpDefinitions: McpDefinitionsService,
    config: ConfigService<Env, true>,
  ) {
    this.enabled = config.get('WORKFLOW_EXECUTOR', { infer: true }) === 'on';
    this.maxConcurrent = config.get('WORKFLOW_MAX_CONCURRENT_RUNS', { infer: true });
    this.stepTimeoutMs = config.get('WORKFLOW_STEP_TIMEOUT_SECONDS', { infer: true }) * 1000;
    this.pollMs = config.get('WORKFLOW_POLL_INTERVAL_MS', { infer: true });
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => this.tick(), this.pollMs);
    this.timer.unref();
    this.tick();
  }

  /** Stops claiming, aborts what runs here (each run ends FAILED, its servers stopped). */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    for (const execution of this.inFlight.values()) execution.abort.abort(new Stop('shutdown'));
    await this.filling;
    await Promise.all([...this.inFlight.values()].map((e) => e.done));
  }

  /** A run was started: claim it now rather than at the next poll. */
  wake(): void {
    if (!this.enabled || this.stopping) return;
    this.detached(() => this.fill());
    for (const ms of WAKE_RETRIES_MS) {
      setTimeout(() => this.detached(() => this.fill()), ms).unref();
    }
  }

  /** A run's status was changed by a caller: if it runs here and is no longer RUNNING, abort it. */
  statusChanged(runId: string): void {
    if (this.inFlight.has(runId)) this.detached(() => this.checkMoved([runId]));
  }

  /** Claims and starts runs until the cap or the queue is reached. Calls share one pass. */
  fill(): Promise<void> {
    if (this.filling) {
      this.refill = true;
      return this.filling;
    }
    this.filling = (async () => {
      do {
        this.refill = false;
        while (!this.stopping && this.inFlight.size < this.maxConcurrent) {
          const run = await this.claim().catch((error: unknown) => {
            this.logger.error({ err: serializeError(error) }, 'Could not claim a workflow run');
            return null;
          });
          if (!run) break;
          this.start(run);
        }
      } while (this.refill && !this.stopping);
    })().finally(() => (this.filling = undefined));
    return this.filling;
  }

  /** Runs executing in this process right now. */
  get running(): string[] {
    return [...this.inFlight.keys()];
  }

  private tick(): void {
    this.detached(() => this.fill());
    if (this.inFlight.size > 0) this.detached(() => this.checkMoved([...this.inFlight.keys()]));
  }

  /**
   * In a fresh context of its own (actor `system`, no request, no transaction), even when
   * called from a request: a run's entries must not inherit the caller's.
   */
  private asSystem<T>(work: () => Promise<T>): Promise<T> {
    return this.cls.run({ ifNested: 'override' }, () => {
      this.cls.set('actorId', SYSTEM_ACTOR);
      this.cls.set('actorRoles', []);
      return work();
    });
  }

  private detached(work: () => Promise<unknown>): void {
    void this.asSystem(work).catch((error: unknown) =>
      this.logger.error({ err: serializeError(error) }, 'Workflow executor task failed'),
    );
  }

  /** The oldest PENDING run nobody else holds, moved to RUNNING (audited), or null. */
  private claim(): Promise<WorkflowRun | null> {
    return this.asSystem(() =>
      this.txHost.withTransaction(async () => {
        const rows: { id: string }[] = await this.txHost.tx.query(
          `SELECT id::text AS id FROM workflow_runs WHERE status = 'PENDING'
           ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`,
        );
        if (!rows[0]) return null;
        return (await this.engine.transition(rows[0].id, 'RUNNING')).run;
      }),
    );
  }

  private start(run: WorkflowRun): void {
    const execution: Execution = { abort: new AbortController(), done: Promise.resolve() };
    this.inFlight.set(run.id, execution);
    execution.done = this.asSystem(() => this.execute(run, execution))
      .catch((error: unknown) =>
        this.logger.error({ err: serializeError(error), runId: run.id }, 'Workflow run crashed'),
      )
      .finally(() => {
        this.inFlight.delete(run.id);
        if (!this.stopping) this.detached(() => this.fill());
      });
  }

  private async execute(run: WorkflowRun, execution: Execution): Promise<void> {
    const signal = execution.abort.signal;
    const steps = await this.loadSteps(run.workflowDefinitionId);
    const scope: TemplateScope = { parameters: run.parameters, steps: {} };
    for (const [index, step] of steps.entries()) {
      if (signal.aborted) return this.stopped(run, signal.reason);
      const end = await this.executeStep(run, index, step, scope, execution);
      if (end.status === 'CANCELLED') return this.stopped(run, signal.reason);
      if (end.status === 'FAILED') {
        const error = `Step ${index} "${step.name}" (${step.tool}) failed: ${end.error}`;
        return this.finish(run, 'FAILED', error);
      }
      scope.steps[step.name] = { output: end.output };
    }
    await this.finish(run, 'SUCCEEDED');
  }

  private async executeStep(
    run: WorkflowRun,
    index: number,
    step: WorkflowStep,
    scope: TemplateScope,
    execution: Execution,
  ): Promise<StepEnd> {
    let input: Record<string, unknown> = step.input;
    let templateError: string | undefined;
    try {
      input = renderInput(step.input, scope) as Record<string, unknown>;
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      templateError = error.message;
    }
    const record = await this.recorder.begin({
      runId: run.id,
      index,
      name: step.name,
      mcpDefinitionId: step.mcpDefinitionId,
      tool: step.tool,
      input,
    });
    const mcpVersion = await this.mcpDefinitions
      .latestVersion(step.mcpDefinitionId)
      .catch(() => null);
    const end: StepEnd = templateError
      ? { status: 'FAILED', error: templateError }
      : await this.call(run, step, input, execution);
    await this.recorder.finish(record, end, run.correlationId, mcpVersion);
    return end;
  }

  /** One tool call on a fresh session; the session is closed (server stopped) whatever happens. */
  private async call(
    run: WorkflowRun,
    step: WorkflowStep,
    input: Record<string, unknown>,
    execution: Execution,
  ): Promise<StepEnd> {
    const runSignal = execution.abort.signal;
    const timeout = AbortSignal.timeout(this.stepTimeoutMs);
    const signal = AbortSignal.any([runSignal, timeout, this.connector.stopSignal]);
    let session: McpSession | undefined;
    let healthy = false;
    try {
      session = await this.connector.connect(step.mcpDefinitionId, {
        signal,
        timeoutMs: this.stepTimeoutMs,
        trace: { correlationId: run.correlationId },
        reuse: true,
      });
      execution.session = session;
      const result = (await session.client.callTool(
        { name: step.tool, arguments: input },
        undefined,
        { signal, timeout: this.stepTimeoutMs },
      )) as CallToolResult;
      // Answered: the server may serve another call (a warm pool's next run).
      healthy = true;
      if (result.isError) {
        return {
          status: 'FAILED',
          error: session.scrub(textOf(result) || 'the tool reported an error'),
        };
      }
      return { status: 'SUCCEEDED', output: outputOf(result) };
    } catch (error) {
      if (runSignal.aborted || this.connector.stopSignal.aborted) {
        const stop = runSignal.aborted ? (runSignal.reason as Stop) : new Stop('shutdown');
        return stop.kind === 'shutdown'
          ? { status: 'FAILED', error: 'The service stopped during the call' }
          : { status: 'CANCELLED', error: `The run was moved to ${stop.status}` };
      }
      if (timeout.aborted) {
        return { status: 'FAILED', error: `Timed out after ${this.stepTimeoutMs / 1000} s` };
      }
      const message = session
        ? this.connector.explain(session, error)
        : error instanceof Error
          ? error.message
          : String(error);
      return { status: 'FAILED', error: message };
    } finally {
      execution.session = undefined;
      await session?.release(healthy && !signal.aborted);
    }
  }

  /** The run was aborted: by shutdown (→ FAILED), or moved by a caller (nothing left to do). */
  private async stopped(run: WorkflowRun, reason: unknown): Promise<void> {
    if (reason instanceof Stop && reason.kind === 'shutdown') {
      await this.finish(run, 'FAILED', 'The service stopped while the run was RUNNING');
    }
  }

  /** The run's final move, through the engine (audited); one already moved by a caller stays. */
  private async finish(run: WorkflowRun, to: RunStatus, error?: string): Promise<void> {
    try {
      await this.engine.transition(run.id, to, error);
    } catch (cause) {
      if (cause instanceof ConflictError || cause instanceof NotFoundError) return;
      throw cause;
    }
  }

  private async loadSteps(workflowId: string): Promise<WorkflowStep[]> {
    const [row]: { steps: WorkflowStep[] }[] = await this.txHost.tx.query(
      `SELECT steps FROM workflow_definitions WHERE id = $1`,
      [workflowId],
    );
    return row?.steps ?? [];
  }

  /**
   * Aborts the runs of `ids` that are no longer RUNNING. `FOR SHARE` waits for a caller's
   * change in flight (a cancel not yet committed) instead of reading the old status.
   */
  private async checkMoved(ids: string[]): Promise<void> {
    // The status is filtered here, not in SQL: a WHERE on status would skip a row whose old
    // version still says RUNNING instead of waiting for its new one.
    const rows: { id: string; status: RunStatus }[] = await this.txHost.tx.query(
      `SELECT id::text AS id, status FROM workflow_runs WHERE id = ANY($1::uuid[]) FOR SHARE`,
      [ids],
    );
    for (const { id, status } of rows) {
      if (status !== 'RUNNING') this.inFlight.get(id)?.abort.abort(new Stop('moved', status));
    }
  }
}

function textOf(result: CallToolResult): string {
  return result.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

/**
 * What later steps see as `steps.<name>.output`: `content` (the text blocks, joined), and
 * `structuredContent` when the tool returned one.
 */
function outputOf(result: CallToolResult): Record<string, unknown> {
  const output: Record<string, unknown> = { content: textOf(result) };
  if (result.structuredContent !== undefined) output.structuredContent = result.structuredContent;
  return output;
}
