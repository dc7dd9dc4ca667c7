import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { In, type Repository } from 'typeorm';
import {
  ascendingPage,
  findOr404,
  InvalidInputError,
  newestFirstPage,
  NotFoundError,
  rejectNullFields,
  saveOr409,
  type Page,
  type PageQueryDto,
  UUID,
} from '@/common';
import { transportProblem, type CreateMcpDefinitionDto } from './dto/create-mcp-definition.dto';
import type { CreateMcpVersionDto } from './dto/create-mcp-version.dto';
import type { ListMcpDefinitionsDto } from './dto/list-mcp-definitions.dto';
import type { UpdateMcpDefinitionDto } from './dto/update-mcp-definition.dto';
import { McpDefinition } from './entities/mcp-definition.entity';
import { McpVersion } from './entities/mcp-version.entity';
import { caseCollisions } from './dto/secret-map.validator';
import { SecretsBox, type SealedMap } from './secrets/secrets-box';
import { StdioPolicy } from './stdio-policy';

/** The plain-text secrets of a definition, for the code that starts or calls its server. */
export interface ResolvedSecrets {
  env: Record<string, string>;
  headers: Record<string, string>;
}

/**
 * The MCP registry. Every write goes through the request's transaction (`txHost.tx`) and uses
 * `save()`/`remove()`, so the auditing module captures each change (with before/after).
 */
@Injectable()
export class McpDefinitionsService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly secrets: SecretsBox,
    private readonly stdio: StdioPolicy,
  ) {}

  private get definitions(): Repository<McpDefinition> {
    return this.txHost.tx.getRepository(McpDefinition);
  }

  private get versions(): Repository<McpVersion> {
    return this.txHost.tx.getRepository(McpVersion);
  }

  async create(dto: CreateMcpDefinitionDto): Promise<McpDefinition> {
    this.stdio.assertMayManage(dto.transport === 'stdio' ? [dto.name] : []);
    // The id is chosen here: each sealed value is bound to its definition's id.
    const id = randomUUID();
    const definition = this.definitions.create({
      id,
      name: dto.name,
      description: dto.description ?? '',
      transport: dto.transport,
      command: dto.command ?? null,
      args: dto.args ?? [],
      url: dto.url ?? null,
      env: this.secrets.sealMap(id, 'env', dto.env ?? {}),
      headers: this.secrets.sealMap(id, 'headers', dto.headers ?? {}),
      tags: dto.tags ?? [],
    });
    return this.save(definition);
  }

  /** By name, the registry's natural order (keyset on the unique name). */
  async list(query: ListMcpDefinitionsDto): Promise<Page<McpDefinition>> {
    const qb = this.definitions.createQueryBuilder('d');
    if (query.name)
      qb.andWhere('d.name LIKE :prefix', { prefix: `${query.name.replace(/[\\%_]/g, '\\$&')}%` });
    if (query.tag) qb.andWhere('d.tags @> ARRAY[:tag]::text[]', { tag: query.tag });
    if (query.transport) qb.andWhere('d.transport = :transport', { transport: query.transport });
    return ascendingPage(qb, 'd', 'name', query);
  }

  /**
   * Which of `ids` name no MCP definition (for other modules that refer to definitions, e.g.
   * workflow steps). Read in the caller's transaction.
   */
  async missing(ids: readonly string[]): Promise<string[]> {
    const wanted = [...new Set(ids.map((id) => id.toLowerCase()))];
    const valid = wanted.filter((id) => UUID.test(id));
    const found = new Set(
      valid.length === 0
        ? []
        : (await this.definitions.find({ select: { id: true }, where: { id: In(valid) } })).map(
            (d) => d.id,
          ),
    );
    return wanted.filter((id) => !found.has(id));
  }

  findOne(id: string, lock = false): Promise<McpDefinition> {
    return findOr404(this.definitions, id, 'MCP definition', { lock });
  }

  /**
   * Reads the row FOR UPDATE in the request's transaction before changing it, so concurrent
   * PATCHes serialize and each audit entry's `from` is the previous entry's `to`.
   */
  async update(id: string, dto: UpdateMcpDefinitionDto): Promise<McpDefinition> {
    rejectNullFields(dto);
    const definition = await this.findOne(id, true);
    // A stdio definition, or one becoming stdio: its command runs on the host.
    if (definition.transport === 'stdio' || dto.transport === 'stdio')
      this.stdio.assertMayManage([definition.name]);
    const { env, headers, ...fields } = dto;
    const next = { ...definition, ...stripUndefined(fields) };
    if (dto.transport !== undefined && dto.transport !== definition.transport) {
      // Switching transport drops the fields of the old one unless they are given again.
      if (dto.transport === 'stdio') {
        next.url = dto.url ?? null;
        next.headers = {};
      } else {
        next.command = dto.command ?? null;
        next.args = dto.args ?? [];
      }
    }
    // Secret maps are patched name by name (values are write-only: callers cannot resend them).
    if (env) next.env = this.secrets.patchMap(id, 'env', next.env, env);
    if (headers) next.headers = this.secrets.patchMap(id, 'headers', next.headers, headers);
    const problem = transportProblem(next) ?? headerCollision(next.headers);
    if (problem) throw new InvalidInputError(problem);
    Object.assign(definition, next);
    return this.save(definition);
  }

  /**
   * The plain-text `env` and `headers` of a definition, for the code that starts or calls its
   * MCP server (never for API responses). Read in the caller's transaction. Throws
   * `SecretUnreadableError` when a value does not open (wrong key, or moved or altered).
   */
  async resolveSecrets(id: string): Promise<ResolvedSecrets> {
    const definition = await this.findOne(id);
    return {
      env: this.secrets.openMap(definition.id, 'env', definition.env),
      headers: this.secrets.openMap(definition.id, 'headers', definition.headers),
    };
  }

  private save(definition: McpDefinition): Promise<McpDefinition> {
    return saveOr409(
      this.definitions,
      definition,
      `An MCP definition named "${definition.name}" already exists`,
      { constraint: 'mcp_definitions_name_key' },
    );
  }

  /**
   * Deletes the definition and, with it, its versions (each removal is captured, so the
   * audit trail gets a DELETE MCP_VERSION entry for every version, then the definition's).
   */
  async remove(id: string): Promise<void> {
    const definition = await this.findOne(id, true);
    const versions = await this.versions.find({
      where: { mcpDefinitionId: id },
      order: { createdAt: 'ASC' },
    });
    if (versions.length > 0) await this.versions.remove(versions);
    await this.definitions.remove(definition);
  }

  async publishVersion(definitionId: string, dto: CreateMcpVersionDto): Promise<McpVersion> {
    // Lock the definition: a concurrent delete cannot orphan the new version.
    await this.findOne(definitionId, true);
    const version = this.versions.create({
      mcpDefinitionId: definitionId,
      version: dto.version,
      manifest: dto.manifest,
      changelog: dto.changelog ?? '',
    });
    return saveOr409(
      this.versions,
      version,
      `Version ${dto.version} of MCP definition ${definitionId} already exists`,
      { constraint: 'mcp_versions_definition_version_key' },
    );
  }

  /** The newest published version's name, or null (for records of what was called). */
  async latestVersion(definitionId: string): Promise<string | null> {
    const newest = await this.versions.findOne({
      select: { version: true },
      where: { mcpDefinitionId: definitionId },
      order: { createdAt: 'DESC', id: 'DESC' },
    });
    return newest?.version ?? null;
  }

  /** Newest first, keyset on (createdAt, id). */
  async listVersions(definitionId: string, query: PageQueryDto): Promise<Page<McpVersion>> {
    await this.findOne(definitionId);
    const qb = this.versions
      .createQueryBuilder('v')
      .where('v.mcpDefinitionId = :definitionId', { definitionId });
    return newestFirstPage(qb, 'v', query);
  }

  async findVersion(definitionId: string, version: string): Promise<McpVersion> {
    await this.findOne(definitionId);
    const found = await this.versions.findOne({
      where: { mcpDefinitionId: definitionId, version },
    });
    if (!found) throw new NotFoundError(`Version of MCP definition ${definitionId}`, version);
    return found;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function headerCollision(headers: SealedMap): string | null {
  const clashes = caseCollisions(Object.keys(headers));
  return clashes.length > 0
    ? `headers ${clashes.join(', ')} differ only in case (HTTP header names are case-insensitive)`
    : null;
}
