import type { ModuleNames } from './module-names';

/**
 * The files of a generated audited CRUD module, in the house conventions (see the README's
 * "Your first module"). Paths are relative to the project root; every file is run through
 * Prettier before it is written.
 */
export function moduleFiles(n: ModuleNames, migration: { className: string; fileName: string }) {
  const dir = `src/modules/${n.kebab}`;
  return {
    [`${dir}/entities/${n.kebabOne}.entity.ts`]: entity(n),
    [`${dir}/dto/create-${n.kebabOne}.dto.ts`]: createDto(n),
    [`${dir}/dto/update-${n.kebabOne}.dto.ts`]: updateDto(n),
    [`${dir}/dto/list-${n.kebab}.dto.ts`]: listDto(n),
    [`${dir}/dto/${n.kebabOne}-responses.dto.ts`]: responseDtos(n),
    [`${dir}/${n.kebab}.service.ts`]: service(n),
    [`${dir}/${n.kebab}.controller.ts`]: controller(n),
    [`${dir}/${n.kebab}.module.ts`]: nestModule(n),
    [`${dir}/index.ts`]: index(n),
    [`src/database/migrations/${migration.fileName}`]: migrationFile(n, migration.className),
    [`test/${n.kebab}.e2e-spec.ts`]: e2eSpec(n),
  };
}

const entity = (n: ModuleNames) => `import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { AuditedEntity } from '@/modules/auditing';

/**
 * A ${n.humanLower}. Changes made with \`save()\`/\`remove()\` through \`txHost.tx\` are captured for
 * the audit trail (UPDATE entries carry exactly the fields that changed).
 */
@AuditedEntity('${n.entityType}')
@Entity({ name: '${n.table}' })
// Mirrors the migration (names included) so \`migration:generate\` sees no difference.
@Unique('${n.table}_name_key', ['name'])
@Index('${n.table}_name_prefix_idx', ['name'])
export class ${n.PascalOne} {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
`;

const createDto = (
  n: ModuleNames,
) => `import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { IsResourceName } from '@/common';

export class Create${n.PascalOne}Dto {
  @ApiProperty({
    example: 'first-${n.kebabOne}',
    description: 'Unique; 1–100 of a-z 0-9 . _ -, starting and ending alphanumeric',
  })
  @IsResourceName()
  name: string;

  @ApiPropertyOptional({ maxLength: 2000, default: '' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string;
}
`;

const updateDto = (n: ModuleNames) => `import { PartialType } from '@nestjs/swagger';
import { Create${n.PascalOne}Dto } from './create-${n.kebabOne}.dto';

/** Any subset of the fields; each given field replaces the stored one. */
export class Update${n.PascalOne}Dto extends PartialType(Create${n.PascalOne}Dto) {}
`;

const listDto = (n: ModuleNames) => `import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { PageQueryDto } from '@/common';

/** \`?name=&limit=&cursor=\`: by name, in keyset pages. */
export class List${n.Pascal}Dto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Names starting with this prefix' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  name?: string;
}
`;

const responseDtos = (n: ModuleNames) => `import { ApiProperty } from '@nestjs/swagger';

/** What the API answers (documents the entity for OpenAPI). */
export class ${n.PascalOne}Dto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'first-${n.kebabOne}' }) name: string;
  @ApiProperty() description: string;
  @ApiProperty({ format: 'date-time' }) createdAt: Date;
  @ApiProperty({ format: 'date-time' }) updatedAt: Date;
}

export class ${n.PascalOne}PageDto {
  @ApiProperty({ type: [${n.PascalOne}Dto] }) items: ${n.PascalOne}Dto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}
`;

const service = (n: ModuleNames) => `import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import type { Repository } from 'typeorm';
import { ascendingPage, findOr404, rejectNullFields, saveOr409, type Page } from '@/common';
import type { Create${n.PascalOne}Dto } from './dto/create-${n.kebabOne}.dto';
import type { List${n.Pascal}Dto } from './dto/list-${n.kebab}.dto';
import type { Update${n.PascalOne}Dto } from './dto/update-${n.kebabOne}.dto';
import { ${n.PascalOne} } from './entities/${n.kebabOne}.entity';

@Injectable()
export class ${n.Pascal}Service {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  /**
   * Always through \`txHost.tx\`: it joins the request's transaction, so the change and its
   * audit entry commit together (a repository injected with @InjectRepository would not).
   */
  private get ${n.camel}(): Repository<${n.PascalOne}> {
    return this.txHost.tx.getRepository(${n.PascalOne});
  }

  create(dto: Create${n.PascalOne}Dto): Promise<${n.PascalOne}> {
    return this.save(this.${n.camel}.create({ name: dto.name, description: dto.description ?? '' }));
  }

  list(query: List${n.Pascal}Dto): Promise<Page<${n.PascalOne}>> {
    const qb = this.${n.camel}.createQueryBuilder('x');
    if (query.name) {
      qb.andWhere('x.name LIKE :prefix', { prefix: \`\${query.name.replace(/[\\\\%_]/g, '\\\\$&')}%\` });
    }
    return ascendingPage(qb, 'x', 'name', query);
  }

  findOne(id: string): Promise<${n.PascalOne}> {
    return findOr404(this.${n.camel}, id, '${n.human}');
  }

  /** Locks the row first: concurrent updates serialize and their audited diffs chain. */
  async update(id: string, dto: Update${n.PascalOne}Dto): Promise<${n.PascalOne}> {
    rejectNullFields(dto);
    const ${n.camelOne} = await findOr404(this.${n.camel}, id, '${n.human}', { lock: true });
    if (dto.name !== undefined) ${n.camelOne}.name = dto.name;
    if (dto.description !== undefined) ${n.camelOne}.description = dto.description;
    return this.save(${n.camelOne});
  }

  async remove(id: string): Promise<void> {
    const ${n.camelOne} = await findOr404(this.${n.camel}, id, '${n.human}', { lock: true });
    await this.${n.camel}.remove(${n.camelOne});
  }

  private save(${n.camelOne}: ${n.PascalOne}): Promise<${n.PascalOne}> {
    return saveOr409(
      this.${n.camel},
      ${n.camelOne},
      \`A ${n.humanLower} named "\${${n.camelOne}.name}" already exists\`,
      { constraint: '${n.table}_name_key' },
    );
  }
}
`;

const controller = (
  n: ModuleNames,
) => `import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Query } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiStandardErrors, ApiUuidParam, UuidParam, type Page } from '@/common';
import { Audited } from '@/modules/auditing';
import { Roles } from '@/modules/identity';
import { Create${n.PascalOne}Dto } from './dto/create-${n.kebabOne}.dto';
import { List${n.Pascal}Dto } from './dto/list-${n.kebab}.dto';
import { ${n.PascalOne}Dto, ${n.PascalOne}PageDto } from './dto/${n.kebabOne}-responses.dto';
import { Update${n.PascalOne}Dto } from './dto/update-${n.kebabOne}.dto';
import type { ${n.PascalOne} } from './entities/${n.kebabOne}.entity';
import { ${n.Pascal}Service } from './${n.kebab}.service';

@ApiTags('${n.kebab}')
@Controller('${n.kebab}')
export class ${n.Pascal}Controller {
  constructor(private readonly ${n.camel}: ${n.Pascal}Service) {}

  @Post()
  @Roles('editor')
  @Audited({ action: 'CREATE', entity: '${n.entityType}' })
  @ApiOperation({
    operationId: 'create${n.PascalOne}',
    summary: 'Create a ${n.humanLower} (audited: CREATE ${n.entityType})',
  })
  @ApiCreatedResponse({ type: ${n.PascalOne}Dto })
  @ApiStandardErrors({ conflict: 'The name is taken', body: true })
  create(@Body() dto: Create${n.PascalOne}Dto): Promise<${n.PascalOne}> {
    return this.${n.camel}.create(dto);
  }

  @Get()
  @Roles('viewer')
  @ApiOperation({
    operationId: 'list${n.Pascal}',
    summary: 'List by name (filter: name prefix), in keyset pages',
  })
  @ApiOkResponse({ type: ${n.PascalOne}PageDto })
  @ApiStandardErrors()
  list(@Query() query: List${n.Pascal}Dto): Promise<Page<${n.PascalOne}>> {
    return this.${n.camel}.list(query);
  }

  @Get(':id')
  @Roles('viewer')
  @ApiOperation({ operationId: 'get${n.PascalOne}', summary: 'Fetch one' })
  @ApiOkResponse({ type: ${n.PascalOne}Dto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such ${n.humanLower}' })
  findOne(@UuidParam() id: string): Promise<${n.PascalOne}> {
    return this.${n.camel}.findOne(id);
  }

  @Patch(':id')
  @Roles('editor')
  @Audited({ action: 'UPDATE', entity: '${n.entityType}' })
  @ApiOperation({
    operationId: 'update${n.PascalOne}',
    summary: 'Change some fields (audited: UPDATE ${n.entityType} with details.changes)',
  })
  @ApiOkResponse({ type: ${n.PascalOne}Dto })
  @ApiUuidParam()
  @ApiStandardErrors({
    notFound: 'No such ${n.humanLower}',
    conflict: 'The new name is taken',
    body: true,
  })
  update(@UuidParam() id: string, @Body() dto: Update${n.PascalOne}Dto): Promise<${n.PascalOne}> {
    return this.${n.camel}.update(id, dto);
  }

  @Delete(':id')
  @Roles('editor')
  @HttpCode(204)
  @Audited({ action: 'DELETE', entity: '${n.entityType}' })
  @ApiOperation({
    operationId: 'delete${n.PascalOne}',
    summary: 'Delete (audited: DELETE ${n.entityType} with a snapshot)',
  })
  @ApiNoContentResponse()
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such ${n.humanLower}' })
  remove(@UuidParam() id: string): Promise<void> {
    return this.${n.camel}.remove(id);
  }
}
`;

const nestModule = (n: ModuleNames) => `import { Module } from '@nestjs/common';
import { ${n.Pascal}Controller } from './${n.kebab}.controller';
import { ${n.Pascal}Service } from './${n.kebab}.service';

/** ${n.human}s. Audited through \`@Audited\` / \`@AuditedEntity\` only. */
@Module({
  controllers: [${n.Pascal}Controller],
  providers: [${n.Pascal}Service],
  exports: [${n.Pascal}Service],
})
export class ${n.Pascal}Module {}
`;

const index = (
  n: ModuleNames,
) => `// The module's only door: other code imports from '@/modules/${n.kebab}', never a file inside.
export { ${n.Pascal}Module } from './${n.kebab}.module';
export { ${n.Pascal}Service } from './${n.kebab}.service';
export { ${n.PascalOne} } from './entities/${n.kebabOne}.entity';
export { Create${n.PascalOne}Dto } from './dto/create-${n.kebabOne}.dto';
export { Update${n.PascalOne}Dto } from './dto/update-${n.kebabOne}.dto';
export { List${n.Pascal}Dto } from './dto/list-${n.kebab}.dto';
export { ${n.PascalOne}Dto, ${n.PascalOne}PageDto } from './dto/${n.kebabOne}-responses.dto';
`;

const migrationFile = (
  n: ModuleNames,
  className: string,
) => `import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ${className} implements MigrationInterface {
  name = '${className}';

  // Timestamps in milliseconds: what a JavaScript Date holds, so keyset cursors are exact.
  public async up(q: QueryRunner): Promise<void> {
    await q.query(\`
      CREATE TABLE ${n.table} (
        id          uuid           PRIMARY KEY DEFAULT gen_random_uuid(),
        name        text           NOT NULL CONSTRAINT ${n.table}_name_key UNIQUE,
        description text           NOT NULL DEFAULT '',
        created_at  timestamptz(3) NOT NULL DEFAULT now(),
        updated_at  timestamptz(3) NOT NULL DEFAULT now()
      )\`);
    // The unique constraint serves the keyset order; this index, the \`name\` prefix filter.
    await q.query(\`CREATE INDEX ${n.table}_name_prefix_idx ON ${n.table} (name text_pattern_ops)\`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(\`DROP TABLE ${n.table}\`);
  }
}
`;

const e2eSpec = (
  n: ModuleNames,
) => `import { createTestApp, type TestApp } from './helpers/test-app';

describe('${n.human}s (e2e)', () => {
  let t: TestApp;
  const base = '/api/v1/${n.kebab}';

  beforeAll(async () => {
    t = await createTestApp();
  });
  beforeEach(() => t.truncate('action_log', 'audit_outbox', '${n.table}'));
  afterAll(() => t.close());

  /** The change entries (rejected attempts are FAILURE entries, not changes). */
  async function entries() {
    const { rows } = await t.db.query(
      \`SELECT action_type, entity_type, entity_id, actor_id, details FROM action_log
        WHERE entity_type = '${n.entityType}' AND outcome = 'SUCCESS' ORDER BY "timestamp", id\`,
    );
    return rows;
  }

  function create(name: string, description = '') {
    return t.http.post(base).set('X-User-ID', 'alice').send({ name, description });
  }

  it('create → 201 and a CREATE entry by the caller', async () => {
    const { body } = await create('first', 'The first one').expect(201);
    expect(body).toMatchObject({ name: 'first', description: 'The first one' });
    expect(await entries()).toEqual([
      {
        action_type: 'CREATE',
        entity_type: '${n.entityType}',
        entity_id: body.id,
        actor_id: 'alice',
        details: expect.objectContaining({ id: body.id, name: 'first' }),
      },
    ]);
  });

  it('fetches one, and lists by name in keyset pages', async () => {
    const ids: string[] = [];
    for (const name of ['c', 'a', 'b']) ids.push((await create(name).expect(201)).body.id);
    const one = await t.http.get(\`\${base}/\${ids[0]}\`).expect(200);
    expect(one.body).toMatchObject({ id: ids[0], name: 'c' });

    const first = await t.http.get(base).query({ limit: 2 }).expect(200);
    expect(first.body.items.map((x: { name: string }) => x.name)).toEqual(['a', 'b']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await t.http
      .get(base)
      .query({ limit: 2, cursor: first.body.nextCursor })
      .expect(200);
    expect(second.body).toEqual({ items: [expect.objectContaining({ name: 'c' })], nextCursor: null });
    const prefix = await t.http.get(base).query({ name: 'b' }).expect(200);
    expect(prefix.body.items.map((x: { name: string }) => x.name)).toEqual(['b']);
  });

  it('patch → 200 and an UPDATE entry with exactly the changes', async () => {
    const { body } = await create('first', 'before').expect(201);
    const updated = await t.http
      .patch(\`\${base}/\${body.id}\`)
      .set('X-User-ID', 'bob')
      .send({ description: 'after' })
      .expect(200);
    expect(updated.body).toMatchObject({ id: body.id, name: 'first', description: 'after' });
    const [, update] = await entries();
    expect(update).toMatchObject({
      action_type: 'UPDATE',
      entity_id: body.id,
      actor_id: 'bob',
      details: { changes: { description: { from: 'before', to: 'after' } } },
    });
  });

  it('delete → 204 and a DELETE entry with the removed row; then it is gone', async () => {
    const { body } = await create('first').expect(201);
    await t.http.delete(\`\${base}/\${body.id}\`).set('X-User-ID', 'alice').expect(204);
    await t.http.get(\`\${base}/\${body.id}\`).expect(404);
    const [, removed] = await entries();
    expect(removed).toMatchObject({
      action_type: 'DELETE',
      entity_id: body.id,
      actor_id: 'alice',
      details: expect.objectContaining({ name: 'first' }),
    });
  });

  it('a duplicate name → 409 (on create and on rename), and no entry', async () => {
    await create('taken').expect(201);
    const other = (await create('other').expect(201)).body;
    const res = await create('taken').expect(409);
    expect(res.body).toMatchObject({ statusCode: 409, error: 'Conflict', requestId: expect.any(String) });
    await t.http.patch(\`\${base}/\${other.id}\`).send({ name: 'taken' }).expect(409);
    expect((await entries()).map((e) => e.action_type)).toEqual(['CREATE', 'CREATE']);
  });

  it('an unknown id → 404 on get, patch and delete; a malformed one → 400', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    await t.http.get(\`\${base}/\${unknown}\`).expect(404);
    await t.http.patch(\`\${base}/\${unknown}\`).send({ description: 'x' }).expect(404);
    await t.http.delete(\`\${base}/\${unknown}\`).expect(404);
    await t.http.get(\`\${base}/not-a-uuid\`).expect(400);
    expect(await entries()).toEqual([]);
  });

  it('invalid input → 400 and nothing written', async () => {
    await t.http.post(base).send({ name: 'Not Valid' }).expect(400);
    await t.http.post(base).send({ name: 'ok', unknownField: 1 }).expect(400);
    const { body } = await create('first').expect(201);
    await t.http.patch(\`\${base}/\${body.id}\`).send({ name: null }).expect(400);
    expect((await entries()).map((e) => e.action_type)).toEqual(['CREATE']);
  });
});
`;
