import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Page } from '@/common/pagination/cursor';
import { PageQueryDto } from '@/common/pagination/page-query.dto';
import {
  ApiPathParam,
  ApiStandardErrors,
  ApiUuidParam,
  PatternPipe,
  UuidParam,
} from '@/common/openapi/api-errors.decorator';
import { SEMVER } from '@/common/validation/validators';
import { Audited } from '@/modules/auditing';
import { Roles } from '@/modules/identity';
import { CreateMcpDefinitionDto } from './dto/create-mcp-definition.dto';
import { CreateMcpVersionDto } from './dto/create-mcp-version.dto';
import { ListMcpDefinitionsDto } from './dto/list-mcp-definitions.dto';
import {
  McpDefinitionDto,
  McpDefinitionPageDto,
  McpVersionDto,
  McpVersionPageDto,
} from './dto/mcp-responses.dto';
import { UpdateMcpDefinitionDto } from './dto/update-mcp-definition.dto';
import type { McpDefinition } from './entities/mcp-definition.entity';
import type { McpVersion } from './entities/mcp-version.entity';
import { McpDefinitionsService } from './mcp-definitions.service';
import { McpDiscoveryService } from './client/mcp-discovery.service';
import { ErrorResponseDto } from '@/common/errors/error-response.dto';
import {
  ExportMcpServersQueryDto,
  ImportMcpServersDto,
  ImportMcpServersResultDto,
  McpServerEntryDto,
  McpServersDocumentDto,
} from './dto/mcp-servers.dto';
import {
  McpServersInteropService,
  type ImportResult,
  type McpServersDocument,
} from './mcp-servers-interop.service';

@ApiTags('mcp-definitions')
@ApiExtraModels(McpServerEntryDto)
@Controller('mcp-definitions')
export class McpDefinitionsController {
  constructor(
    private readonly mcp: McpDefinitionsService,
    private readonly discovery: McpDiscoveryService,
    private readonly interop: McpServersInteropService,
  ) {}

  @Post()
  @Roles('editor')
  @Audited({ action: 'CREATE', entity: 'MCP_DEFINITION' })
  @ApiOperation({
    operationId: 'createMcpDefinition',
    summary:
      'Register an MCP server definition (stdio: admin only, else 403; audited: CREATE MCP_DEFINITION)',
  })
  @ApiCreatedResponse({ type: McpDefinitionDto })
  @ApiStandardErrors({ conflict: 'The name is taken', body: true })
  create(@Body() dto: CreateMcpDefinitionDto): Promise<McpDefinition> {
    return this.mcp.create(dto);
  }

  @Get()
  @Roles('viewer')
  @ApiOperation({
    operationId: 'listMcpDefinitions',
    summary: 'List definitions by name (filters: name prefix, tag, transport)',
  })
  @ApiOkResponse({ type: McpDefinitionPageDto })
  @ApiStandardErrors()
  list(@Query() query: ListMcpDefinitionsDto): Promise<Page<McpDefinition>> {
    return this.mcp.list(query);
  }

  @Get(':id')
  @Roles('viewer')
  @ApiOperation({ operationId: 'getMcpDefinition', summary: 'Fetch a definition' })
  @ApiOkResponse({ type: McpDefinitionDto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such definition' })
  findOne(@UuidParam() id: string): Promise<McpDefinition> {
    return this.mcp.findOne(id);
  }

  @Patch(':id')
  @Roles('editor')
  @Audited({ action: 'UPDATE', entity: 'MCP_DEFINITION' })
  @ApiOperation({
    operationId: 'updateMcpDefinition',
    summary:
      'Change some fields (a stdio definition, or a change to stdio: admin only; audited: UPDATE MCP_DEFINITION with details.changes = { field: { from, to } })',
  })
  @ApiOkResponse({ type: McpDefinitionDto })
  @ApiUuidParam()
  @ApiStandardErrors({
    notFound: 'No such definition',
    conflict: 'The new name is taken',
    body: true,
  })
  update(@UuidParam() id: string, @Body() dto: UpdateMcpDefinitionDto): Promise<McpDefinition> {
    return this.mcp.update(id, dto);
  }

  @Delete(':id')
  @Roles('editor')
  @HttpCode(204)
  @Audited({ action: 'DELETE', entity: 'MCP_DEFINITION' })
  @ApiOperation({
    operationId: 'deleteMcpDefinition',
    summary:
      'Delete a definition and its versions (audited: DELETE MCP_VERSION for each version, DELETE MCP_DEFINITION with a snapshot)',
  })
  @ApiNoContentResponse()
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such definition' })
  remove(@UuidParam() id: string): Promise<void> {
    return this.mcp.remove(id);
  }

  @Post(':id/versions')
  @Roles('editor')
  @Audited({
    action: 'CREATE',
    entity: 'MCP_VERSION',
    details: ({ result }: { result: McpVersion }) => ({
      mcpDefinitionId: result.mcpDefinitionId,
      version: result.version,
    }),
  })
  @ApiOperation({
    operationId: 'publishMcpVersion',
    summary: 'Publish an immutable version (audited: CREATE MCP_VERSION)',
  })
  @ApiCreatedResponse({ type: McpVersionDto })
  @ApiUuidParam()
  @ApiStandardErrors({
    notFound: 'No such definition',
    conflict: 'This version exists already',
    body: true,
  })
  publish(@UuidParam() id: string, @Body() dto: CreateMcpVersionDto): Promise<McpVersion> {
    return this.mcp.publishVersion(id, dto);
  }

  @Get(':id/versions')
  @Roles('viewer')
  @ApiOperation({
    operationId: 'listMcpVersions',
    summary: "A definition's versions, newest first",
  })
  @ApiOkResponse({ type: McpVersionPageDto })
  @ApiUuidParam()
  @ApiStandardErrors({ notFound: 'No such definition' })
  versions(@UuidParam() id: string, @Query() query: PageQueryDto): Promise<Page<McpVersion>> {
    return this.mcp.listVersions(id, query);
  }

  @Get(':id/versions/:version')
  @Roles('viewer')
  @ApiOperation({ operationId: 'getMcpVersion', summary: 'One version' })
  @ApiOkResponse({ type: McpVersionDto })
  @ApiUuidParam()
  @ApiPathParam('version', { pattern: SEMVER.source }, 'A semantic version such as 1.2.0')
  @ApiStandardErrors({ notFound: 'No such definition or version' })
  version(
    @UuidParam() id: string,
    @Param('version', new PatternPipe('version', SEMVER, 'a semantic version such as 1.2.0'))
    version: string,
  ): Promise<McpVersion> {
    return this.mcp.findVersion(id, version);
  }

  @Post(':id/discover')
  @Roles('editor')
  @Audited({
    action: 'CREATE',
    entity: 'MCP_VERSION',
    details: ({ result }: { result: McpVersion }) => ({
      mcpDefinitionId: result.mcpDefinitionId,
      version: result.version,
      discovered: true,
      tools: ((result.manifest.tools ?? []) as { name: string }[]).map((t) => t.name),
    }),
  })
  @ApiOperation({
    operationId: 'discoverMcpTools',
    summary:
      'Connect to the server (initialize + tools/list) and publish what it offers as a new version (audited: CREATE MCP_VERSION; a failure is a FAILURE entry)',
  })
  @ApiCreatedResponse({ type: McpVersionDto })
  @ApiBadGatewayResponse({
    type: ErrorResponseDto,
    description: 'The server could not be reached or broke the protocol (the reason is in message)',
  })
  @ApiUuidParam()
  @ApiStandardErrors({
    notFound: 'No such definition',
    conflict: 'A version was published at the same time',
  })
  discover(@UuidParam() id: string): Promise<McpVersion> {
    return this.discovery.discover(id);
  }

  @Post('import')
  @Roles('editor')
  @Audited({
    // One CREATE entry per definition, all with this request's id: this declaration names the
    // first; change capture gives every other definition created its own.
    action: 'CREATE',
    entity: 'MCP_DEFINITION',
    entityId: ({ result }: { result: ImportResult }) => result.items[0]?.id,
    details: ({ result }: { result: ImportResult }) => ({ ...result.items[0] }),
  })
  @ApiOperation({
    operationId: 'importMcpServers',
    summary:
      'Import the mcpServers file of desktop MCP clients, all or nothing (stdio servers: admin only; audited: CREATE MCP_DEFINITION for each)',
  })
  @ApiCreatedResponse({ type: ImportMcpServersResultDto })
  @ApiStandardErrors({
    conflict: 'A name is taken (nothing is imported)',
    body: true,
  })
  import(@Body() dto: ImportMcpServersDto): Promise<ImportResult> {
    return this.interop.import(dto);
  }

  @Get('export')
  @Roles('viewer')
  @Header('Cache-Control', 'no-store')
  @Audited({
    action: 'READ',
    entity: 'MCP_DEFINITION',
    entityId: () => 'export',
    details: ({ query, result }: { query: unknown; result: McpServersDocument }) => ({
      // Says whether the env/header values left in plain text (a key named like a secret would
      // itself be redacted). The raw query string or the validated DTO: exactly `true` asked.
      values:
        String((query as { includeSecrets?: unknown }).includeSecrets) === 'true'
          ? 'included'
          : 'redacted',
      definitions: Object.keys(result.mcpServers).length,
    }),
  })
  @ApiOperation({
    operationId: 'exportMcpServers',
    summary:
      'Every definition as a desktop client mcpServers file; secret values only with includeSecrets (admin; audited: READ MCP_DEFINITION "export")',
  })
  @ApiOkResponse({ type: McpServersDocumentDto })
  @ApiStandardErrors()
  export(@Query() query: ExportMcpServersQueryDto): Promise<McpServersDocument> {
    return this.interop.export(query.includeSecrets === true);
  }
}
