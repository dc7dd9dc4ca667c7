import { Injectable, NotFoundException } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsService } from 'nestjs-cls';
import { InvalidInputError } from '@/common';
import type { RequestContext } from '@/common/context/request-context';
import { queryRows, type Partition, type Queryable } from './partitions';

/** What a hold covers besides its time range: entries matching all of these. */
export interface HoldFilter {
  entityType?: string;
  entityId?: string;
  actorId?: string;
  /** Containment, as `?details=` of the search: entries whose details contain this object. */
  details?: Record<string, unknown>;
}

export interface LegalHoldInput {
  reason: string;
  from?: string;
  to?: string;
  filter?: HoldFilter;
}

export interface LegalHold {
  id: string;
  reason: string;
  from: string | null;
  to: string | null;
  filter: HoldFilter | null;
  createdBy: string;
  createdAt: string;
  releasedBy: string | null;
  releasedAt: string | null;
}

const SELECT_HOLD = `id, reason,
  to_char(from_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "from",
  to_char(to_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "to",
  filter, created_by AS "createdBy",
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt",
  released_by AS "releasedBy",
  to_char(released_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "releasedAt"`;

/** The most holds listed (active ones first); more is a sign of misuse, not of need. */
export const MAX_HOLDS_LISTED = 1000;

/**
 * Legal holds: while a hold is active, the retention job purges no partition holding an entry
 * it covers (a time range, a filter, or both; neither: everything). Releasing a hold keeps its
 * record. Creating and releasing are audited by the controller.
 */
@Injectable()
export class LegalHoldsService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly cls: ClsService<RequestContext>,
  ) {}

  async create(input: LegalHoldInput): Promise<LegalHold> {
    if (input.from && input.to && new Date(input.from) >= new Date(input.to))
      throw new InvalidInputError('from must be before to');
    const filter = input.filter && Object.keys(input.filter).length ? input.filter : null;
    const rows: LegalHold[] = await this.txHost.tx.query(
      `INSERT INTO audit_legal_holds (reason, from_time, to_time, filter, created_by)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${SELECT_HOLD}`,
      [input.reason, input.from ?? null, input.to ?? null, filter, this.actor()],
    );
    return rows[0];
  }

  list(): Promise<LegalHold[]> {
    return this.txHost.tx.query(
      `SELECT ${SELECT_HOLD} FROM audit_legal_holds
       ORDER BY released_at IS NOT NULL, created_at DESC, id LIMIT ${MAX_HOLDS_LISTED}`,
    );
  }

  /** Ends an active hold (404: none by that id; a released one is returned as it is). */
  async release(id: string): Promise<LegalHold> {
    const rows: LegalHold[] = await this.txHost.tx.query(
      `WITH released AS (
         UPDATE audit_legal_holds SET released_by = $2, released_at = now()
         WHERE id = $1 AND released_at IS NULL RETURNING *)
       SELECT ${SELECT_HOLD} FROM released
       UNION ALL
       SELECT ${SELECT_HOLD} FROM audit_legal_holds
       WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM released)`,
      [id, this.actor()],
    );
    if (!rows[0]) throw new NotFoundException(`Legal hold ${id} not found`);
    return rows[0];
  }

  private actor(): string {
    return (this.cls.isActive() && this.cls.get('actorId')) || 'system';
  }
}

/**
 * The active holds that cover an entry of `partition`: a hold's time range overlaps the month
 * and, with a filter, an entry of the partition in that range matches it.
 */
export async function holdsCovering(db: Queryable, partition: Partition): Promise<string[]> {
  const rows = await queryRows<{ id: string }>(
    db,
    `SELECT h.id::text AS id FROM audit_legal_holds h
     WHERE h.released_at IS NULL
       AND (h.from_time IS NULL OR h.from_time < $2)
       AND (h.to_time IS NULL OR h.to_time > $1)
       AND (h.filter IS NULL OR EXISTS (
         SELECT 1 FROM ${partition.name} l
         WHERE (h.from_time IS NULL OR l."timestamp" >= h.from_time)
           AND (h.to_time IS NULL OR l."timestamp" < h.to_time)
           AND (h.filter->>'entityType' IS NULL OR l.entity_type = h.filter->>'entityType')
           AND (h.filter->>'entityId' IS NULL OR l.entity_id = h.filter->>'entityId')
           AND (h.filter->>'actorId' IS NULL OR l.actor_id = h.filter->>'actorId')
           AND (h.filter->'details' IS NULL OR l.details @> (h.filter->'details'))))
     ORDER BY h.created_at`,
    [partition.from, partition.to],
  );
  return rows.map((r) => r.id);
}
