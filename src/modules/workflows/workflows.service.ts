import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsService } from 'nestjs-cls';
import type { Repository } from 'typeorm';
import type { RequestContext } from '@/common/context/request-context';
import { McpDefinitionsService } from '@/modules/mcp-definitions';
import {
  ascendingPage,
  ConflictError,
  findOr404,
  InvalidInputError,
  newestFirstPage,
  rejectNullFields,
  saveOr409,
  type Page,
  type PageQueryDto,
} from '@/common';
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

  list(query: PageQueryDto): Promise<Page<WorkflowDefinition>> {
    return ascendingPage(this.definitions.createQueryBuilder('w'), 'w', 'name', query);
  }

  findOne(id: string, lock = false): Promise<WorkflowDefinition> {
    return findOr404(this.definitions, id, 'Workflow', { lock });
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

  findRun(id: string): Promise<WorkflowRun> {
    return findOr404(this.runs, id, 'Workflow run');
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

  private save(workflow: WorkflowDefinition): Promise<WorkflowDefinition> {
    return saveOr409(
      this.definitions,
      workflow,
      `A workflow named "${workflow.name}" already exists`,
    );
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
