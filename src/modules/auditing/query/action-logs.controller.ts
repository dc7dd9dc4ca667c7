import { createHash } from 'node:crypto';
import { Controller, Get, Header, Headers, Param, Query, Res } from '@nestjs/common';
import {
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
  OmitType,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiStandardErrors, PatternPipe } from '@/common/openapi/api-errors.decorator';

import { Roles } from '@/modules/identity';
import { AuditedRead } from '../audited.decorator';
import { SEARCH_ENTITY_ID } from '../audit.types';
import { ActionLogQueryService, pageBody } from './action-log-query.service';
import { filtersForAudit } from './action-log.projection';
import { ActionLogEntryDto, ActionLogPageDto } from './dto/action-log-entry.dto';
import { QueryActionLogsDto } from './dto/query-action-logs.dto';

/** Entry ids are bigints (at most 19 digits); anything else is a 400. */
const ENTRY_ID = /^[0-9]{1,19}$/;

/** Responses are JSON texts built by PostgreSQL, sent as they are. */
const JSON_TYPE = 'application/json; charset=utf-8';

/** An entry never changes once stored: a client may keep it for good. */
const IMMUTABLE = 'private, max-age=31536000, immutable';

/** A strong validator of the exact bytes sent (so an entry sealed later gets a new one). */
function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url')}"`;
}

/** `If-None-Match` (a list, or `*`) names this ETag; a weak one matches too (RFC 9110). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

class EntityHistoryQueryDto extends OmitType(QueryActionLogsDto, [
  'entityType',
  'entityId',
] as const) {}

/**
 * Reading the trail is itself on record: `READ ACTION_LOG`, entity id = the entry's id for a
 * single read, `search` for a search or an entity's history, with the filters used (as given
 * in the query string, plus the history's entity). Written in the background (batched).
 */
@ApiTags('action-logs')
@Roles('auditor')
@Controller('action-logs')
@AuditedRead({
  action: 'READ',
  entity: 'ACTION_LOG',
  entityId: ({ params }) => params.id ?? SEARCH_ENTITY_ID,
  details: ({ params, query }) =>
    params.id === undefined
      ? { filters: { ...filtersForAudit(query as object), ...params } }
      : null,
})
export class ActionLogsController {
  constructor(private readonly logs: ActionLogQueryService) {}

  @Get()
  @ApiOperation({
    operationId: 'searchActionLogs',
    summary: 'Search the action log, newest first (keyset pagination)',
  })
  @ApiOkResponse({ type: ActionLogPageDto })
  @ApiStandardErrors()
  @Header('Content-Type', JSON_TYPE)
  async list(@Query() query: QueryActionLogsDto): Promise<string> {
    return pageBody(await this.logs.search(query));
  }

  @Get('entities/:entityType/:entityId')
  @ApiOperation({ operationId: 'listEntityHistory', summary: "One entity's history, newest first" })
  @ApiOkResponse({ type: ActionLogPageDto })
  @ApiParam({
    name: 'entityId',
    description:
      'As the trail stores it; the router refuses a path parameter over 100 characters (414): longer ids (up to 256) through GET /action-logs?entityId=',
    schema: { type: 'string', minLength: 1, maxLength: 100 },
  })
  @ApiStandardErrors()
  @Header('Content-Type', JSON_TYPE)
  async history(
    @Param('entityType') entityType: string,
    @Param('entityId') entityId: string,
    @Query() query: EntityHistoryQueryDto,
  ): Promise<string> {
    return pageBody(await this.logs.search({ ...query, entityType, entityId }));
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getActionLog',
    summary: 'One action log entry',
    description:
      'An entry never changes once stored: the answer carries a strong `ETag` and ' +
      `\`Cache-Control: ${IMMUTABLE}\`; \`If-None-Match\` with that ETag gets 304 (no body).`,
  })
  @ApiOkResponse({
    type: ActionLogEntryDto,
    headers: {
      ETag: { description: 'Strong validator of the body', schema: { type: 'string' } },
      'Cache-Control': { description: IMMUTABLE, schema: { type: 'string' } },
    },
  })
  @ApiResponse({ status: 304, description: 'Not modified: the ETag in If-None-Match is current' })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'An ETag of this entry' })
  @ApiParam({ name: 'id', schema: { type: 'string', pattern: ENTRY_ID.source } })
  @ApiStandardErrors({ notFound: 'No entry with this id' })
  async findOne(
    @Param('id', new PatternPipe('id', ENTRY_ID, 'an entry id (digits)')) id: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const body = await this.logs.findOneJson(id);
    const etag = etagOf(body);
    void reply.header('ETag', etag).header('Cache-Control', IMMUTABLE);
    if (matches(ifNoneMatch, etag)) {
      void reply.status(304);
      return '';
    }
    void reply.header('Content-Type', JSON_TYPE);
    return body;
  }
}
