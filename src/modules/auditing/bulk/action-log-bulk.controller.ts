import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import {
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { ArrayMaxSize, IsArray } from 'class-validator';
import { ApiStandardErrors } from '@/common/openapi/api-errors.decorator';
import { Roles } from '@/modules/identity';
import { Audited } from '../audited.decorator';
import { ACTION_TYPES, OUTCOMES, type ActionType, type Outcome } from '../audit.types';
import { AuditingService, type BulkWriteResult } from '../auditing.service';
import { MAX_BULK_ENTRIES, OLDEST_TIMESTAMP, type BulkEntryInput } from './bulk-entry.validator';

/**
 * The bulk route's own body limit (the global BODY_LIMIT_BYTES stays 1 MiB): 10,000 entries
 * at ~3 KiB each. A larger import is split into several calls.
 */
export const BULK_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

/** One entry of a bulk write (validated by `BulkValidation`, as a single entry is). */
class BulkEntryDto implements BulkEntryInput {
  @ApiProperty({ format: 'uuid', description: "The client's id of the event: stored once" })
  eventId: string;
  @ApiPropertyOptional({
    format: 'date-time',
    description: `When it happened (ISO-8601, up to µs; in the past, not before ${OLDEST_TIMESTAMP}). Default: when stored`,
  })
  timestamp?: string;
  @ApiProperty({ maxLength: 128 }) actorId: string;
  @ApiProperty({ enum: ACTION_TYPES }) actionType: ActionType;
  @ApiProperty({ example: 'MCP_DEFINITION', description: 'A known entity type' })
  entityType: string;
  @ApiProperty({ maxLength: 256 }) entityId: string;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: 'Redacted like any entry',
  })
  details?: Record<string, unknown> | null;
  @ApiPropertyOptional({ enum: OUTCOMES, default: 'SUCCESS' }) outcome?: Outcome;
  @ApiPropertyOptional({ type: [String] }) actorRoles?: string[];
  @ApiPropertyOptional({ maxLength: 128, description: "Default: this request's" })
  requestId?: string;
  @ApiPropertyOptional({ maxLength: 128, description: "Default: this request's" })
  correlationId?: string;
  @ApiPropertyOptional({ maxLength: 64 }) ip?: string;
  @ApiPropertyOptional({ maxLength: 1024 }) userAgent?: string;
  @ApiPropertyOptional({ maxLength: 16 }) method?: string;
  @ApiPropertyOptional({ maxLength: 2048 }) path?: string;
  @ApiPropertyOptional({ type: 'integer', minimum: 100, maximum: 599 }) statusCode?: number;
}

class BulkActionLogsDto {
  // Items are checked by BulkValidation (every item, each error with its index), not here.
  @ApiProperty({ type: [BulkEntryDto], minItems: 1, maxItems: MAX_BULK_ENTRIES })
  @IsArray()
  @ArrayMaxSize(MAX_BULK_ENTRIES)
  entries: BulkEntryInput[];
}

class BulkResultDto implements BulkWriteResult {
  @ApiProperty({ description: 'Entries stored by this call' }) stored: number;
  @ApiProperty({ description: 'Entries whose eventId was already stored (a retry): skipped' })
  alreadyPresent: number;
}

/** Bulk ingest for imports and system jobs. */
@ApiTags('action-logs')
@Controller('action-logs')
export class ActionLogBulkController {
  constructor(private readonly auditing: AuditingService) {}

  @Post('bulk')
  @HttpCode(200)
  @Roles('admin')
  @RouteConfig({ bodyLimit: BULK_BODY_LIMIT_BYTES })
  @Audited({
    action: 'CREATE',
    entity: 'ACTION_LOG',
    entityId: () => 'bulk',
    details: ({ result }: { result: BulkWriteResult }) => ({ ...result }),
  })
  @ApiOperation({
    operationId: 'bulkCreateActionLogs',
    summary: 'Store up to 10,000 entries at once (idempotent by eventId)',
    description:
      'Every entry is validated first: one bad entry refuses the whole call (400, each error as ' +
      '`entries[i].field: ...`). Otherwise all are stored in one statement; entries whose ' +
      '`eventId` is already stored are skipped, so a retried call stores nothing twice. ' +
      `The body may be up to ${BULK_BODY_LIMIT_BYTES / 1024 / 1024} MiB. Audited as one entry with the counts.`,
  })
  @ApiOkResponse({ type: BulkResultDto })
  @ApiStandardErrors({ body: true })
  bulk(@Body() body: BulkActionLogsDto): Promise<BulkWriteResult> {
    return this.auditing.createActionLogEntries(body.entries);
  }
}
