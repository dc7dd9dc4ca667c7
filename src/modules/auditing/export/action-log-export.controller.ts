import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiPropertyOptional,
  ApiTags,
  OmitType,
} from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiStandardErrors } from '@/common/openapi/api-errors.decorator';
import { Roles } from '@/modules/identity';
import { AuditedRead } from '../audited.decorator';
import { filtersForAudit } from '../query/action-log.projection';
import { QueryActionLogsDto } from '../query/dto/query-action-logs.dto';
import {
  ActionLogExportService,
  EXPORT_FORMATS,
  type ExportFormat,
} from './action-log-export.service';

class ExportActionLogsDto extends OmitType(QueryActionLogsDto, ['limit', 'cursor'] as const) {
  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'ndjson' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS)
  format: ExportFormat = 'ndjson';
}

/** What an export reports to its audit entry. */
interface ExportOutcome {
  format: ExportFormat;
  rows: number;
  complete: boolean;
}

const CONTENT_TYPE: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

/**
 * The trail as a file: every entry a search matches, streamed. On record as one
 * `READ ACTION_LOG export` entry with the filters, the format and the rows sent (written once
 * the stream has ended, complete or not).
 */
@ApiTags('action-logs')
@Roles('auditor')
@Controller('action-logs')
export class ActionLogExportController {
  constructor(private readonly exports: ActionLogExportService) {}

  @Get('export')
  @AuditedRead({
    action: 'READ',
    entity: 'ACTION_LOG',
    entityId: () => 'export',
    details: ({ query, result }: { query: unknown; result: ExportOutcome }) => {
      const { format: _format, ...filters } = (query ?? {}) as Record<string, unknown>;
      return { filters: filtersForAudit(filters), ...result };
    },
  })
  @ApiOperation({
    operationId: 'exportActionLogs',
    summary: 'Export the entries a search matches (NDJSON or CSV, streamed, newest first)',
    description:
      'Takes the filters of the search (no limit, no cursor). NDJSON: one entry per line, as ' +
      'the search returns it. CSV: a header row, then one row per entry (details and ' +
      'actorRoles as JSON); cells that a spreadsheet would run as a formula (starting with ' +
      '=, +, -, @, tab or CR) are prefixed with a single quote. Gzip with ' +
      '`Accept-Encoding: gzip`.',
  })
  // The two media types on the 200 only: errors are JSON like everywhere else.
  @ApiOkResponse({
    description: 'The entries, streamed',
    content: {
      [CONTENT_TYPE.ndjson.split(';')[0]]: { schema: { type: 'string' } },
      [CONTENT_TYPE.csv.split(';')[0]]: { schema: { type: 'string' } },
    },
  })
  @ApiStandardErrors()
  async export(
    @Query() query: ExportActionLogsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<ExportOutcome> {
    const { format, ...filters } = query;
    const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    const running = await this.exports.start(filters, format, gzip);
    void reply
      .header('Content-Type', CONTENT_TYPE[format])
      .header('Content-Disposition', `attachment; filename="action-log.${format}"`)
      .header('Cache-Control', 'no-store')
      .header('Vary', 'Accept-Encoding');
    if (gzip) void reply.header('Content-Encoding', 'gzip');
    void reply.send(running.body);
    return { format, ...(await running.done) };
  }
}
