import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags, OmitType } from '@nestjs/swagger';
import { ApiStandardErrors } from '@/common/openapi/api-errors.decorator';
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
  @ApiStandardErrors({ notFound: 'No entry with this id' })
  findOne(@Param('id') id: string): Promise<ActionLogEntry> {
    return this.logs.findOne(id);
  }
}
