import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { PageQueryDto } from '@/common/pagination/page-query.dto';
import { IsJsonObject } from '@/common/validation/validators';
import {
  ACTION_TYPES,
  ENTITY_TYPE_PATTERN,
  MAX_ENTITY_ID_LENGTH,
  OUTCOMES,
  ROLE_PATTERN,
  type ActionType,
  type Outcome,
} from '@/modules/auditing/audit.types';

/** The largest `?details=` object (serialized): a filter, not a document. */
export const MAX_DETAILS_FILTER_BYTES = 2048;

export class QueryActionLogsDto extends PageQueryDto {
  @ApiPropertyOptional({ maxLength: 128 })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  actorId?: string;

  @ApiPropertyOptional({ enum: ACTION_TYPES })
  @IsOptional()
  @IsIn(ACTION_TYPES)
  actionType?: ActionType;

  @ApiPropertyOptional({ example: 'MCP_DEFINITION', pattern: ENTITY_TYPE_PATTERN.source })
  @IsOptional()
  @Matches(ENTITY_TYPE_PATTERN, { message: 'entityType must be an UPPER_SNAKE_CASE entity type' })
  entityType?: string;

  @ApiPropertyOptional({ maxLength: MAX_ENTITY_ID_LENGTH })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_ENTITY_ID_LENGTH)
  entityId?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Entries at or after this instant (ISO-8601)',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Entries before this instant (ISO-8601, exclusive)',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;

  @ApiPropertyOptional({ maxLength: 128 })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  requestId?: string;

  @ApiPropertyOptional({ maxLength: 128 })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  correlationId?: string;

  @ApiPropertyOptional({ enum: OUTCOMES })
  @IsOptional()
  @IsIn(OUTCOMES)
  outcome?: Outcome;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 100,
    maximum: 599,
    description: 'HTTP status of the request',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(599)
  statusCode?: number;

  @ApiPropertyOptional({
    example: 'auditor',
    description: 'Entries whose actor held this role',
    pattern: ROLE_PATTERN.source,
  })
  @IsOptional()
  @Matches(ROLE_PATTERN, { message: 'actorRole must be a role name' })
  actorRole?: string;

  @ApiPropertyOptional({
    type: String,
    example: '{"status":"FAILED"}',
    description: `Entries whose details contain this JSON object (containment, as \`@>\`; at most ${MAX_DETAILS_FILTER_BYTES} bytes)`,
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => parseJson(value))
  @IsJsonObject(MAX_DETAILS_FILTER_BYTES, {
    message: `details must be a JSON object (e.g. {"status":"FAILED"}) of at most ${MAX_DETAILS_FILTER_BYTES} bytes`,
  })
  details?: Record<string, unknown>;
}

/**
 * The JSON object a query parameter holds; anything else stays the text itself, which the
 * validator refuses (`null` too: @IsOptional would take it for an absent filter).
 */
function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    const parsed = JSON.parse(value) as unknown;
    return parsed !== null && typeof parsed === 'object' ? parsed : value;
  } catch {
    return value;
  }
}
