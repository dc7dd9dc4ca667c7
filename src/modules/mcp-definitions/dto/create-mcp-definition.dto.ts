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
import { IsResourceName, IsStringRecord } from '@/common/validation/validators';
import { TRANSPORTS, type Transport } from '../entities/mcp-definition.entity';

export const TAG_PATTERN = /^[a-z0-9][a-z0-9._-]{0,49}$/;
export const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * What a transport requires: stdio → `command` (and maybe `args`), no `url`; sse and
 * streamable-http → `url`, no `command` or `args`. Returns the problem, or null.
 */
export function transportProblem(o: {
  transport?: string;
  command?: string | null;
  url?: string | null;
  args?: string[] | null;
}): string | null {
  if (o.transport === 'stdio') {
    if (o.command === undefined || o.command === null || o.command === '') {
      return 'command is required when transport is stdio';
    }
    if (o.url !== undefined && o.url !== null) return 'url is not allowed when transport is stdio';
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
  })
  @IsResourceName()
  name: string;

  @ApiPropertyOptional({ maxLength: 2000, default: '' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string;

  @ApiProperty({ enum: TRANSPORTS })
  @IsIn(TRANSPORTS)
  @HasTransportFields()
  transport: Transport;

  @ApiPropertyOptional({ description: 'Required for stdio; not allowed otherwise', example: 'npx' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  command?: string;

  @ApiPropertyOptional({
    type: [String],
    description: 'stdio only',
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
    description: 'Environment variables; values are secrets and never appear in the audit trail',
  })
  @IsOptional()
  @IsStringRecord({ maxKeys: 100, keyPattern: ENV_KEY_PATTERN, maxValueLength: 8192 })
  env?: Record<string, string>;

  @ApiPropertyOptional({ type: [String], example: ['files', 'local'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(TAG_PATTERN, {
    each: true,
    message: 'each tag must be 1-50 characters of a-z, 0-9, ".", "_", "-"',
  })
  tags?: string[];
}
