import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { escapeLiteral } from 'pg';
import { DataSource } from 'typeorm';
import { NotFoundError } from '@/common/errors/domain-error';
import { encodeCursor, type Page } from '@/common/pagination/cursor';
import type { ActionLogEntry } from '../audit.types';
import { ENTRY_JSON } from './action-log.projection';
import {
  containmentSql,
  isBigint,
  planSearch,
  searchSql,
  windowSql,
  type SearchPlan,
} from './action-log.search';
import type { QueryActionLogsDto } from './dto/query-action-logs.dto';

/** One page as PostgreSQL built it: each entry's JSON text, and the cursor. */
export interface JsonPage {
  items: string[];
  nextCursor: string | null;
}

/** A page's response body, byte for byte what `JSON.stringify` of the parsed page would be. */
export function pageBody(page: JsonPage): string {
  return `{"items":[${page.items.join(',')}],"nextCursor":${JSON.stringify(page.nextCursor)}}`;
}

/**
 * At most this many matches of a containment in a window of SCAN_BUDGET entries (1 in 1,000
 * for a page of 50) and it is rare enough for the GIN index: fetching all its matches costs
 * less than the window did. Above, the short page and its cursor are the answer.
 */
const sparse = (limit: number): number => Math.floor(limit / 10);

/** The last row of a full window (see `windowSql`). */
interface WindowEdge {
  t: string;
  i: string;
  dense: number;
}

interface Row {
  j: string;
  t: string;
  i: string;
}

/** A pooled connection's pg client, as far as the search uses it. */
interface SimpleClient {
  query(text: string): Promise<{ rows: unknown[] } | { rows: unknown[] }[]>;
}

/** The search statements prepared on each connection, least recently used first. */
const prepared = new WeakMap<SimpleClient, Map<string, true>>();
/** At most this many search statements stay prepared per connection (the oldest goes). */
const MAX_PREPARED = 64;

/** A parameter of a search as an SQL literal (EXECUTE takes literals, typed by PREPARE). */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string') return escapeLiteral(value);
  throw new TypeError(`a search parameter must be a string or a finite number`);
}

/**
 * Reads the action log: newest first by (timestamp, id), keyset-paginated, with bounded work
 * per page whatever the filters (see `action-log.search.ts`). No totals: counting a growing
 * log is the one query that gets slower with time. Entries are JSON texts built by PostgreSQL;
 * Node only joins them.
 *
 * A search without residual filters (the driving index gives the page itself), and every
 * query of a search whose plan cannot depend on its values (`valueFree`: a window or a
 * containment over the time index, no `from`/`to`), is prepared once per connection and run
 * with a generic plan: planning it over every month's partition and its indexes cost
 * ~0.6–0.8 ms, up to ten times running it (a page of 50 runs in ~0.7 ms, a
 * search that matches nothing in ~0.1 ms). Its plan does not depend on the values: the SQL
 * fixes which index drives the scan and in which order, and the partitions are pruned when
 * the query starts. `action-log-search.e2e-spec.ts` proves bounded work on the plans that run.
 */
@Injectable()
export class ActionLogQueryService {
  constructor(private readonly dataSource: DataSource) {}

  /** One page of a search, as JSON texts. */
  async search(query: QueryActionLogsDto): Promise<JsonPage> {
    const { limit, cursor, ...filters } = query;
    const plan = planSearch(filters, cursor);
    const take = `$${plan.params.push(limit + 1)}`;
    const rows = await this.run<Row>(
      searchSql(plan, `${ENTRY_JSON} AS j`, take),
      plan.params,
      plan.residual.length === 0 || plan.valueFree,
    );
    if (rows.length > limit || plan.residual.length === 0) return this.page(rows, limit);
    // A short page. With the containment as the only residual filter, the page's hits are its
    // matches in the window: when they are very few, it is rare, and the GIN index finds the
    // matches without walking (reading about as many entries as match).
    const onlyContainment = plan.containment !== undefined && plan.residual.length === 1;
    if (onlyContainment && rows.length <= sparse(limit)) {
      return this.fromContainment(plan, take, limit, filters.from);
    }
    // Otherwise: did the window end the scan (and how rare is the containment)?
    const measure = !onlyContainment && plan.containment !== undefined;
    // The containment's parameter comes last among the window's: dropped when not measured.
    const params = plan.params.slice(0, plan.windowParams - (plan.containment && !measure ? 1 : 0));
    const [edge] = await this.run<WindowEdge>(
      windowSql(plan, measure),
      params,
      // With values for a driver or a time window, a generic plan may sort every entry they
      // match.
      plan.valueFree,
    );
    if (!edge) return this.page(rows, limit);
    if (measure && edge.dense <= sparse(limit))
      return this.fromContainment(plan, take, limit, filters.from);
    return { items: rows.map((r) => r.j), nextCursor: encodeCursor([edge.t, edge.i]) };
  }

  /**
   * The page from the GIN index, over CONTAINMENT_MONTHS months of history at most. Fewer
   * matches than a page there, and older entries in the search's range: the page comes back
   * short, with a cursor at the range's start.
   */
  private async fromContainment(
    plan: SearchPlan,
    take: string,
    limit: number,
    from?: string,
  ): Promise<JsonPage> {
    const since = plan.containmentSince;
    const rows = await this.run<Row>(
      containmentSql(plan, `${ENTRY_JSON} AS j`, take),
      plan.params,
      // Planning it for the object's value cost 1.5-5 ms (its selectivity is computed against
      // every month's statistics); the generic plan is the GIN lookup whatever the object.
      plan.valueFree,
    );
    if (rows.length > limit || !since) return this.page(rows, limit);
    // The newest entry before the range, if any (one entry read from the time index).
    const older = await this.run<{ t: Date }>(
      `SELECT "timestamp" AS t FROM action_log
       WHERE "timestamp" < $1::timestamptz ${from ? 'AND "timestamp" >= $2::timestamptz' : ''}
       ORDER BY "timestamp" DESC LIMIT 1`,
      from ? [since, from] : [since],
      true,
    );
    if (older.length === 0) return this.page(rows, limit);
    return { items: rows.map((r) => r.j), nextCursor: encodeCursor([since, '0']) };
  }

  /**
   * Runs a search statement. `generic`: with a generic plan, in one round trip: prepared on
   * this connection the first time (`PREPARE`), then `EXECUTE` with the values as literals,
   * under `plan_cache_mode = force_generic_plan` for that statement only. Otherwise planned
   * for its values (a window over residual filters, a containment: which plan reads least
   * depends on how many entries the values match).
   */
  async run<R>(sql: string, params: unknown[], generic = false): Promise<R[]> {
    if (!generic) return this.dataSource.query<R[]>(sql, params);
    const runner = this.dataSource.createQueryRunner();
    try {
      const client = (await runner.connect()) as SimpleClient;
      let names = prepared.get(client);
      if (!names) prepared.set(client, (names = new Map<string, true>()));
      const name = `search_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
      if (!names.delete(name)) {
        // Alone in its round trip (rare: once per shape and connection), so a statement is
        // recorded as prepared only when it is. Never DEALLOCATE ALL: the connection also
        // holds the audit writer's prepared statement.
        const oldest = names.size >= MAX_PREPARED ? names.keys().next().value : undefined;
        if (oldest) {
          names.delete(oldest);
          await client.query(`DEALLOCATE ${oldest}`);
        }
        await client.query(`PREPARE ${name} AS ${sql}`);
      }
      names.set(name, true);
      const results = (await client.query(
        [
          'SET plan_cache_mode = force_generic_plan',
          params.length ? `EXECUTE ${name}(${params.map(literal).join(', ')})` : `EXECUTE ${name}`,
          'RESET plan_cache_mode',
        ].join(';\n'),
      )) as { rows: unknown[] }[];
      return results[1].rows as R[];
    } finally {
      await runner.release();
    }
  }

  /** One page of a search, parsed (for code; the API sends `search`'s texts as they are). */
  async list(query: QueryActionLogsDto): Promise<Page<ActionLogEntry>> {
    const page = await this.search(query);
    return {
      items: page.items.map((j) => JSON.parse(j) as ActionLogEntry),
      nextCursor: page.nextCursor,
    };
  }

  /** One entry's JSON text, as the API sends it. */
  async findOneJson(id: string): Promise<string> {
    if (!isBigint(id)) throw new NotFoundError('Action log entry', id);
    const rows: { j: string }[] = await this.dataSource.query(
      `SELECT ${ENTRY_JSON} AS j FROM action_log WHERE id = $1::bigint`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError('Action log entry', id);
    return rows[0].j;
  }

  async findOne(id: string): Promise<ActionLogEntry> {
    return JSON.parse(await this.findOneJson(id)) as ActionLogEntry;
  }

  private page(rows: Row[], limit: number): JsonPage {
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items: items.map((r) => r.j),
      nextCursor: rows.length > limit && last ? encodeCursor([last.t, last.i]) : null,
    };
  }
}
