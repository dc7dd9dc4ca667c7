import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { NotFoundError } from '@/common/errors/domain-error';
import { decodeCursor, invalidCursor, toPage, type Page } from '@/common/pagination/cursor';
import type { ActionLogEntry } from '../audit.types';
import { JOIN_CHAIN, SELECT_CHAIN, SELECT_ENTRY } from './action-log.projection';
import type { QueryActionLogsDto } from './dto/query-action-logs.dto';

const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const MAX_BIGINT = 2n ** 63n - 1n;

function isBigint(id: string): boolean {
  return /^\d{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
}

type Filter = Omit<QueryActionLogsDto, 'limit' | 'cursor' | 'actorRole'>;

const COLUMN: Record<keyof Omit<Filter, 'from' | 'to'>, string> = {
  actorId: 'actor_id',
  actionType: 'action_type',
  entityType: 'entity_type',
  entityId: 'entity_id',
  requestId: 'request_id',
  correlationId: 'correlation_id',
  outcome: 'outcome',
  statusCode: 'status_code',
};

/**
 * Reads the action log: newest first by (timestamp, id), keyset-paginated, every filter
 * backed by an index (see the ActionLog migration). No totals: counting a growing log is
 * the one query that gets slower with time.
 */
@Injectable()
export class ActionLogQueryService {
  constructor(private readonly dataSource: DataSource) {}

  async list(query: QueryActionLogsDto): Promise<Page<ActionLogEntry>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown): string => `$${params.push(value)}`;
    for (const [key, column] of Object.entries(COLUMN) as [keyof typeof COLUMN, string][]) {
      const value = query[key];
      if (value !== undefined) where.push(`${column} = ${param(value)}`);
    }
    // Containment, so the GIN index on actor_roles serves it.
    if (query.actorRole) where.push(`actor_roles @> ARRAY[${param(query.actorRole)}]::text[]`);
    if (query.from) where.push(`"timestamp" >= ${param(query.from)}::timestamptz`);
    if (query.to) where.push(`"timestamp" < ${param(query.to)}::timestamptz`);
    if (query.cursor) {
      const [ts, id] = decodeCursor(query.cursor, ['string', 'string']);
      if (!isBigint(String(id)) || !ISO_TIMESTAMP.test(String(ts))) {
        invalidCursor();
      }
      where.push(`("timestamp", id) < (${param(ts)}::timestamptz, ${param(id)}::bigint)`);
    }
    const limit = query.limit;
    const rows: ActionLogEntry[] = await this.dataSource.query(
      // ORDER BY names the table's columns: unqualified, "timestamp" and id would be the
      // SELECT list's text renderings, sorted as text.
      `SELECT ${SELECT_ENTRY}, ${SELECT_CHAIN} FROM action_log l ${JOIN_CHAIN}
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY l."timestamp" DESC, l.id DESC
       LIMIT ${param(limit + 1)}`,
      params,
    );
    return toPage(rows, limit, (last) => [last.timestamp, last.id]);
  }

  async findOne(id: string): Promise<ActionLogEntry> {
    if (!isBigint(id)) throw new NotFoundError('Action log entry', id);
    const rows: ActionLogEntry[] = await this.dataSource.query(
      `SELECT ${SELECT_ENTRY}, ${SELECT_CHAIN} FROM action_log l ${JOIN_CHAIN} WHERE l.id = $1::bigint`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError('Action log entry', id);
    return rows[0];
  }
}
