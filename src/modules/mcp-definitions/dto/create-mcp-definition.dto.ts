import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  MaxLength,
  ValidateBy,
} from 'class-validator';
import { IsResourceName, RESOURCE_NAME } from '@/common/validation/validators';
import { IsSecretMap, type SecretMapRules } from './secret-map.validator';
import { TRANSPORTS, type Transport } from '../entities/mcp-definition.entity';

export const TAG_PATTERN = /^[a-z0-9][a-z0-9._-]{0,49}$/;
export const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** An HTTP field name (RFC 9110 token). */
export const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** What Node's HTTP client accepts in a header value: no CR, LF, NUL or other controls. */
export const HEADER_VALUE_PATTERN = /^[\t\x20-\x7e\x80-\xff]*$/;

export const ENV_RULES: SecretMapRules = {
  maxKeys: 100,
  keyPattern: ENV_KEY_PATTERN,
  keys: 'matching [A-Za-z_][A-Za-z0-9_]* (up to 128 characters)',
  maxValueLength: 8192,
};
export const HEADER_RULES: SecretMapRules = {
  maxKeys: 50,
  keyPattern: HEADER_NAME_PATTERN,
  keys: 'HTTP header names (up to 128 token characters)',
  maxValueLength: 8192,
  valuePattern: HEADER_VALUE_PATTERN,
  caseInsensitiveKeys: true,
};

/**
 * What a transport requires: stdio → `command` (and maybe `args`), no `url`; sse and
 * streamable-http → `url`, no `command` or `args`. Returns the problem, or null.
 */
export function transportProblem(o: {
  transport?: string;
  command?: string | null;
  url?: string | null;
  args?: string[] | null;
  headers?: object | null;
}): string | null {
  if (o.transport === 'stdio') {
    if (o.command === undefined || o.command === null || o.command === '') {
      return 'command is required when transport is stdio';
    }
    if (o.url !== undefined && o.url !== null) return 'url is not allowed when transport is stdio';
    if (o.headers && Object.values(o.headers).some((v) => v !== null))
      return 'headers are only allowed when transport is sse or streamable-http';
    return null;
  }
  if (o.url === undefined || o.url === null || o.url === '') {
    return `url is required when transport is ${o.transport}`;
  }
  if (o.command !== undefined && o.command !== null)
    return 'command is only allowed when transport is stdio';
  if (o.args && o.args.length > 0) return 'args are only allowed when transport is stdio';
  return null;
}

function HasTransportFields(): PropertyDecorator {
  return ValidateBy({
    name: 'hasTransportFields',
    validator: {
      validate: (value: unknown, args) =>
        typeof value !== 'string' ||
        !(TRANSPORTS as readonly string[]).includes(value) ||
        !transportProblem(args?.object as object),
      defaultMessage: (args) =>
        transportProblem(args?.object as object) ?? 'transport fields are inconsistent',
    },
  });
}

export class CreateMcpDefinitionDto {
  @ApiProperty({
    example: 'filesystem',
    description: 'Unique; 1–100 of a-z 0-9 . _ -, starting and ending alphanumeric',
    pattern: RESOURCE_NAME.source,
    maxLength: 100,
  })
  @IsResourceName()
  name: string;

  @ApiPropertyOptional({ maxLength: 2000, description: 'Empty when left out' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string;

  @ApiProperty({ enum: TRANSPORTS })
  @IsIn(TRANSPORTS)
  @HasTransportFields()
  transport: Transport;

  @ApiPropertyOptional({
    description: 'Required for stdio; not allowed otherwise',
    example: 'npx',
    minLength: 1,
    maxLength: 1024,
  })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  command?: string;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', maxLength: 4096 },
    maxItems: 100,
    description: 'stdio only; empty when left out',
    example: ['-y', '@modelcontextprotocol/server-filesystem'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(4096, { each: true })
  args?: string[];

  @ApiPropertyOptional({
    description: 'Required for sse and streamable-http (http or https); not allowed for stdio',
    format: 'uri',
    maxLength: 2048,
  })
  @IsOptional()
  @IsUrl(
    { protocols: ['http', 'https'], require_protocol: true, require_tld: false },
    { message: 'url must be an http or https URL' },
  )
  @MaxLength(2048)
  url?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    description:
      'Environment variables. The values are secrets: write-only (responses show "[REDACTED]"), sealed at rest, never in the audit trail or logs',
    example: { API_TOKEN: 's3cret' },
  })
  @IsOptional()
  @IsSecretMap(ENV_RULES)
  env?: Record<string, string>;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    description:
      'sse and streamable-http only: HTTP headers sent to the server. Values are secrets, like env values',
    example: { Authorization: 'Bearer s3cret' },
  })
  @IsOptional()
  @IsSecretMap(HEADER_RULES)
  headers?: Record<string, string>;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: TAG_PATTERN.source },
    maxItems: 20,
    example: ['files', 'local'],
    description: 'Empty when left out',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(TAG_PATTERN, {
    each: true,
    message: 'each tag must be 1-50 characters of a-z, 0-9, ".", "_", "-"',
  })
  tags?: string[];
}
