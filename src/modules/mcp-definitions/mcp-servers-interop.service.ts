import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { In } from 'typeorm';
import { ConflictError, ForbiddenError, InvalidInputError } from '@/common';
import { REDACTED } from '@/modules/auditing';
import { CreateMcpDefinitionDto } from './dto/create-mcp-definition.dto';
import type { ImportMcpServersDto } from './dto/mcp-servers.dto';
import { McpDefinition } from './entities/mcp-definition.entity';
import { McpDefinitionsService } from './mcp-definitions.service';
import { readServerEntry, writeServerEntry } from './mcp-servers.format';
import { SecretsBox, type SealedMap } from './secrets/secrets-box';
import { StdioPolicy } from './stdio-policy';

export interface ImportResult {
  items: McpDefinition[];
  ignored: Record<string, string[]>;
}

export interface McpServersDocument {
  mcpServers: Record<string, Record<string, unknown>>;
}

/**
 * Interop with desktop MCP clients: their `mcpServers` file in (all or nothing, each item
 * checked with the create rules first) and out. Runs in the request's transaction.
 */
@Injectable()
export class McpServersInteropService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly mcp: McpDefinitionsService,
    private readonly secrets: SecretsBox,
    private readonly stdio: StdioPolicy,
  ) {}

  /**
   * Every item is read and validated before anything is written: a bad item is a 400 naming
   * it (all problems at once), a stdio item needs an admin (403), a taken name is a 409. Then
   * each is created like `POST /mcp-definitions` (sealed secrets, one CREATE entry each).
   */
  async import(dto: ImportMcpServersDto): Promise<ImportResult> {
    const creates: CreateMcpDefinitionDto[] = [];
    const ignored: Record<string, string[]> = {};
    const problems: string[] = [];
    for (const [name, entry] of Object.entries(dto.mcpServers)) {
      const read = readServerEntry(name, entry);
      const create = plainToInstance(CreateMcpDefinitionDto, read.definition);
      const invalid =
        read.problems.length > 0
          ? read.problems
          : messagesOf(validateSync(create, { whitelist: true, forbidNonWhitelisted: true }));
      problems.push(...invalid.map((p) => `mcpServers.${printable(name)}: ${p}`));
      if (read.ignored.length > 0) ignored[name] = read.ignored;
      creates.push(create);
    }
    if (problems.length > 0) throw new InvalidInputError(problems);
    this.stdio.assertMayManage(creates.filter((c) => c.transport === 'stdio').map((c) => c.name));
    const taken = await this.txHost.tx.getRepository(McpDefinition).find({
      select: { name: true },
      where: { name: In(creates.map((c) => c.name)) },
      order: { name: 'ASC' },
    });
    if (taken.length > 0) {
      throw new ConflictError(
        `MCP definitions with these names already exist (nothing was imported): ${taken.map((d) => d.name).join(', ')}`,
      );
    }
    const items: McpDefinition[] = [];
    for (const create of creates) items.push(await this.mcp.create(create));
    return { items, ignored };
  }

  /** Every definition by name; secret values only for an admin who asks (else 403). */
  async export(includeSecrets: boolean): Promise<McpServersDocument> {
    if (includeSecrets && !this.stdio.isAdmin()) {
      throw new ForbiddenError('role admin required to export secret values (includeSecrets)');
    }
    const definitions = await this.txHost.tx
      .getRepository(McpDefinition)
      .find({ order: { name: 'ASC' } });
    const values = (d: McpDefinition, field: 'env' | 'headers'): Record<string, string> =>
      includeSecrets ? this.secrets.openMap(d.id, field, d[field]) : redacted(d[field]);
    const mcpServers: McpServersDocument['mcpServers'] = {};
    for (const d of definitions) {
      mcpServers[d.name] = writeServerEntry(d, values(d, 'env'), values(d, 'headers'));
    }
    return { mcpServers };
  }
}

function redacted(map: SealedMap): Record<string, string> {
  return Object.fromEntries(Object.keys(map).map((k) => [k, REDACTED]));
}

/** class-validator's messages, flat (the create DTO has no nested objects). */
function messagesOf(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => [
    ...Object.values(e.constraints ?? {}),
    ...messagesOf(e.children ?? []),
  ]);
}

/** A server name as it may appear in a message: bounded, no control characters. */
function printable(name: string): string {
  const shown = JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name);
  return /^"[a-z0-9._-]+"$/.test(shown) ? shown.slice(1, -1) : shown;
}
