import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsService } from 'nestjs-cls';
import { QueryFailedError, type Repository } from 'typeorm';
import type { RequestContext } from '@/common/context/request-context';
import { McpDefinitionsService } from '@/modules/mcp-definitions';
import { ConflictError, InvalidInputError, NotFoundError } from '@/common/errors/domain-error';
import { decodeCursor, toPage, type Page } from '@/common/pagination/cursor';
import type { PageQueryDto } from '@/common/pagination/page-query.dto';
import { rejectNullFields, UUID } from '@/common/validation/validators';
import { newestFirstPage } from '@/common/pagination/keyset';
import type {
  CreateWorkflowDto,
  ListRunsDto,
  StartRunDto,
  UpdateWorkflowDto,
  WorkflowStepDto,
} from './dto/workflow.dto';
import { WorkflowDefinition } from './entities/workflow-definition.entity';
import { WorkflowRun } from './entities/workflow-run.entity';

/** Workflow definitions and the start of runs; status changes belong to the engine. */
@Injectable()
export class WorkflowsService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly cls: ClsService<RequestContext>,
    private readonly mcpDefinitions: McpDefinitionsService,
  ) {}

  private get definitions(): Repository<WorkflowDefinition> {
    return this.txHost.tx.getRepository(WorkflowDefinition);
  }

  private get runs(): Repository<WorkflowRun> {
    return this.txHost.tx.getRepository(WorkflowRun);
  }

  async create(dto: CreateWorkflowDto): Promise<WorkflowDefinition> {
    await this.checkSteps(dto.steps);
    return this.save(
      this.definitions.create({
        name: dto.name,
        description: dto.description ?? '',
        steps: plainSteps(dto.steps),
      }),
    );
  }

  async list(query: PageQueryDto): Promise<Page<WorkflowDefinition>> {
    const qb = this.definitions
      .createQueryBuilder('w')
      .orderBy('w.name', 'ASC')
      .limit(query.limit + 1);
    if (query.cursor) {
      const [after] = decodeCursor(query.cursor, ['string']);
      qb.where('w.name > :after', { after });
    }
    return toPage(await qb.getMany(), query.limit, (last) => [last.name]);
  }

  async findOne(id: string, lock = false): Promise<WorkflowDefinition> {
    if (!UUID.test(id)) throw new NotFoundError('Workflow', id);
    const found = await this.definitions.findOne({
      where: { id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
    if (!found) throw new NotFoundError('Workflow', id);
    return found;
  }

  /** Locks the row first: concurrent updates serialize and their diffs chain. */
  async update(id: string, dto: UpdateWorkflowDto): Promise<WorkflowDefinition> {
    rejectNullFields(dto);
    const workflow = await this.findOne(id, true);
    if (dto.steps) await this.checkSteps(dto.steps);
    if (dto.name !== undefined) workflow.name = dto.name;
    if (dto.description !== undefined) workflow.description = dto.description;
    if (dto.steps !== undefined) workflow.steps = plainSteps(dto.steps);
    return this.save(workflow);
  }

  /** A workflow with runs cannot be deleted (their history would lose its definition): 409. */
  async remove(id: string): Promise<void> {
    const workflow = await this.findOne(id, true);
    if (await this.runs.exists({ where: { workflowDefinitionId: id } })) {
      throw new ConflictError(`Workflow ${id} has runs and cannot be deleted`);
    }
    await this.definitions.remove(workflow);
  }

  /** A new run, PENDING, carrying the correlation id every entry of its story will share. */
  async startRun(workflowId: string, dto: StartRunDto): Promise<WorkflowRun> {
    await this.findOne(workflowId);
    const run = this.runs.create({
      workflowDefinitionId: workflowId,
      parameters: dto.parameters ?? {},
      status: 'PENDING',
      correlationId: this.cls.get('correlationId'),
    });
    return this.runs.save(run);
  }

  async findRun(id: string): Promise<WorkflowRun> {
    if (!UUID.test(id)) throw new NotFoundError('Workflow run', id);
    const run = await this.runs.findOne({ where: { id } });
    if (!run) throw new NotFoundError('Workflow run', id);
    return run;
  }

  /** Newest first, keyset on (createdAt, id); optionally one status. */
  async listRuns(workflowId: string, query: ListRunsDto): Promise<Page<WorkflowRun>> {
    await this.findOne(workflowId);
    const qb = this.runs
      .createQueryBuilder('r')
      .where('r.workflowDefinitionId = :workflowId', { workflowId });
    if (query.status) qb.andWhere('r.status = :status', { status: query.status });
    return newestFirstPage(qb, 'r', query);
  }

  /** Every step must name an existing MCP definition. */
  private async checkSteps(steps: WorkflowStepDto[]): Promise<void> {
    const missing = await this.mcpDefinitions.missing(steps.map((s) => s.mcpDefinitionId));
    if (missing.length > 0) {
      throw new InvalidInputError(
        `steps name MCP definitions that do not exist: ${missing.join(', ')}`,
      );
    }
  }

  private async save(workflow: WorkflowDefinition): Promise<WorkflowDefinition> {
    try {
      return await this.definitions.save(workflow);
    } catch (error) {
      const code =
        error instanceof QueryFailedError
          ? (error.driverError as { code?: string }).code
          : undefined;
      if (code === '23505')
        throw new ConflictError(`A workflow named "${workflow.name}" already exists`);
      throw error;
    }
  }
}

function plainSteps(steps: WorkflowStepDto[]) {
  return steps.map((s) => ({
    name: s.name,
    mcpDefinitionId: s.mcpDefinitionId.toLowerCase(),
    tool: s.tool,
    input: s.input,
  }));
}
