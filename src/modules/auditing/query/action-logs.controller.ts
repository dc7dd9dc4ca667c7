import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags, OmitType } from '@nestjs/swagger';
import { ApiStandardErrors, PatternPipe } from '@/common/openapi/api-errors.decorator';

/** Entry ids are bigints (at most 19 digits); anything else is a 400. */
const ENTRY_ID = /^[0-9]{1,19}$/;
import type { Page } from '@/common/pagination/cursor';
import { Roles } from '@/modules/identity';
import { AuditedRead } from '../audited.decorator';
import { SEARCH_ENTITY_ID, type ActionLogEntry } from '../audit.types';
import { ActionLogQueryService } from './action-log-query.service';
import { ActionLogEntryDto, ActionLogPageDto } from './dto/action-log-entry.dto';
import { QueryActionLogsDto } from './dto/query-action-logs.dto';

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
    params.id === undefined ? { filters: { ...(query as object), ...params } } : null,
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
  list(@Query() query: QueryActionLogsDto): Promise<Page<ActionLogEntry>> {
    return this.logs.list(query);
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
  history(
    @Param('entityType') entityType: string,
    @Param('entityId') entityId: string,
    @Query() query: EntityHistoryQueryDto,
  ): Promise<Page<ActionLogEntry>> {
    return this.logs.list({ ...query, entityType, entityId });
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getActionLog', summary: 'One action log entry' })
  @ApiOkResponse({ type: ActionLogEntryDto })
  @ApiParam({ name: 'id', schema: { type: 'string', pattern: ENTRY_ID.source } })
  @ApiStandardErrors({ notFound: 'No entry with this id' })
  findOne(
    @Param('id', new PatternPipe('id', ENTRY_ID, 'an entry id (digits)')) id: string,
  ): Promise<ActionLogEntry> {
    return this.logs.findOne(id);
  }
}
