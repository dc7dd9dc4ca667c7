import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional, ValidateBy } from 'class-validator';
import { McpDefinitionDto } from './mcp-responses.dto';

/** At most this many servers in one import (each is one definition and one audit entry). */
export const MAX_IMPORTED_SERVERS = 100;

/**
 * One server as desktop MCP clients write it (Claude Desktop, Claude Code, Cursor, Cline…):
 * `{ command, args, env }` for stdio, `{ type, url, headers }` for HTTP. Documentation of
 * the import body's items and the export's shape; the import checks each item itself (see
 * `mcp-servers.format.ts`) so that it can name the item in every error.
 */
export class McpServerEntryDto {
  @ApiPropertyOptional({
    enum: ['stdio', 'sse', 'http', 'streamable-http'],
    description:
      'The transport. Import also reads `transport` or `transportType`, and `streamableHttp`; left out: stdio with `command`, streamable HTTP with `url`. Export always writes it',
  })
  type?: string;

  @ApiPropertyOptional({ description: 'stdio: the executable', example: 'npx' })
  command?: string;

  @ApiPropertyOptional({
    type: [String],
    description: 'stdio: its arguments',
    example: ['-y', '@modelcontextprotocol/server-filesystem', '/srv/data'],
  })
  args?: string[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    description:
      'Environment variables. Export shows "[REDACTED]" values unless includeSecrets=true (admin); import refuses "[REDACTED]"',
    example: { API_TOKEN: '[REDACTED]' },
  })
  env?: Record<string, string>;

  @ApiPropertyOptional({
    format: 'uri',
    description: 'sse / http: the server URL (import also reads `serverUrl`)',
  })
  url?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'sse / http: headers sent to the server; values are secrets like env values',
    example: { Authorization: '[REDACTED]' },
  })
  headers?: Record<string, string>;

  @ApiPropertyOptional({
    description:
      'Turned off in the client: imported with the tag `disabled` (and exported as `disabled: true`)',
  })
  disabled?: boolean;

  @ApiPropertyOptional({ description: "This registry's own field; written when not empty" })
  description?: string;

  @ApiPropertyOptional({
    type: [String],
    description: "This registry's own field; written when not empty",
  })
  tags?: string[];
}

function IsServerMap(): PropertyDecorator {
  return ValidateBy({
    name: 'isServerMap',
    validator: {
      validate: (value: unknown) =>
        value !== null &&
        typeof value === 'object' &&
        !Array.isArray(value) &&
        Object.keys(value).length >= 1 &&
        Object.keys(value).length <= MAX_IMPORTED_SERVERS,
      defaultMessage: () =>
        `mcpServers must be an object naming 1 to ${MAX_IMPORTED_SERVERS} servers`,
    },
  });
}

/** The `mcpServers` file of desktop MCP clients. */
export class ImportMcpServersDto {
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(McpServerEntryDto) },
    minProperties: 1,
    maxProperties: MAX_IMPORTED_SERVERS,
    description:
      'Server name (becomes the definition name: 1–100 of a-z 0-9 . _ -) → how to reach it. Client-only settings (`autoApprove`, `alwaysAllow`, `timeout`, `disabledTools`) are accepted and ignored; any other field is refused',
    example: {
      filesystem: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv/data'],
      },
      github: {
        type: 'http',
        url: 'https://mcp.example.com/mcp',
        headers: { Authorization: 'Bearer …' },
      },
    },
  })
  @IsServerMap()
  mcpServers: Record<string, unknown>;
}

export class McpServersDocumentDto {
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(McpServerEntryDto) },
    description: 'Every definition, by name, in the format desktop MCP clients read',
  })
  mcpServers: Record<string, McpServerEntryDto>;
}

export class ImportMcpServersResultDto {
  @ApiProperty({ type: [McpDefinitionDto], description: 'The definitions created, by name' })
  items: McpDefinitionDto[];

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'array', items: { type: 'string' } },
    description: 'Per server, the client-only fields that were ignored (absent: none)',
    example: { filesystem: ['autoApprove'] },
  })
  ignored: Record<string, string[]>;
}

export class ExportMcpServersQueryDto {
  @ApiPropertyOptional({
    type: Boolean,
    description:
      'admin only (else 403): the secret values of env and headers in plain text. Audited (READ MCP_DEFINITION "export", details.values = included or redacted)',
  })
  @IsOptional()
  @Transform(({ obj, key }: { obj: Record<string, unknown>; key: string }) =>
    obj[key] === 'true' ? true : obj[key] === 'false' ? false : obj[key],
  )
  @IsBoolean({ message: 'includeSecrets must be true or false' })
  includeSecrets?: boolean;
}
