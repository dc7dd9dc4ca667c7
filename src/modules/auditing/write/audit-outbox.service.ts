import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';
import { serializeError } from '@/common/logging/logging.module';
import type { Env } from '@/config/env';
import { PeriodicTask } from '@/common/periodic-task';
import { AuditMetrics } from '../audit-metrics';

const BATCH = 500;

/**
 * Moves pending entries (those whose insert failed, kept in `audit_outbox` with the business
 * change) into the action log. Delete-from-outbox and insert-into-log are one statement, so
 * an entry is stored exactly once; `FOR UPDATE SKIP LOCKED` lets several instances drain
 * together; the entry keeps the time of the change, not of the retry.
 */
const MOVE_SQL = `
  WITH batch AS (
    SELECT event_id FROM audit_outbox
    WHERE ($2::uuid IS NULL OR event_id = $2)
    ORDER BY occurred_at LIMIT $1 FOR UPDATE SKIP LOCKED
  ), moved AS (
    DELETE FROM audit_outbox o USING batch b WHERE o.event_id = b.event_id
    RETURNING o.event_id, o.occurred_at, o.entry
  )
  INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
                          details, request_id, correlation_id, ip, user_agent, method, path,
                          outcome, status_code, actor_roles)
  SELECT event_id, occurred_at, entry->>'actorId', entry->>'actionType', entry->>'entityType',
         entry->>'entityId', NULLIF(entry->'details', 'null'::jsonb), entry->>'requestId',
         entry->>'correlationId', entry->>'ip', entry->>'userAgent', entry->>'method', entry->>'path',
         -- Entries kept before the ActionOutcomes migration have none of the three.
         COALESCE(entry->>'outcome', 'SUCCESS'), (entry->>'statusCode')::integer,
         ARRAY(SELECT jsonb_array_elements_text(CASE jsonb_typeof(entry->'actorRoles')
                                                 WHEN 'array' THEN entry->'actorRoles' ELSE '[]' END))
  FROM moved
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id`;

export interface AuditBacklog {
  pending: number;
  failuresTotal: number;
  recoveredTotal: number;
  oldestPendingAt: string | null;
  lastError: string | null;
}

@Injectable()
export class AuditOutboxService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditOutboxService.name);
  private readonly task: PeriodicTask<number>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly metrics: AuditMetrics,
    config: ConfigService<Env, true>,
  ) {
    this.task = new PeriodicTask(
      () => this.drainOnce(),
      config.get('AUDIT_RETRY_INTERVAL_MS', { infer: true }),
    );
  }

  onApplicationBootstrap(): void {
    // Entries left pending by a previous process are retried right away, then periodically.
    this.task.start({ runNow: true });
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /**
   * Stores every pending entry it can; returns how many it stored. Concurrent calls share
   * one run. Entries that still fail stay pending with their attempt count and last error.
   */
  drain(): Promise<number> {
    return this.task.run();
  }

  /** Resolves when the drain in progress (if any) has finished. */
  settled(): Promise<void> {
    return this.task.settled();
  }

  private async drainOnce(): Promise<number> {
    let stored = 0;
    try {
      for (;;) {
        const moved = await this.move(null);
        stored += moved;
        if (moved < BATCH) break;
      }
    } catch (error) {
      // One bad entry must not hold back the others: go one by one.
      stored += await this.moveOneByOne(error);
    }
    if (stored > 0) {
      this.metrics.recovered += stored;
      this.logger.log(
        `Stored ${stored} pending audit entr${stored === 1 ? 'y' : 'ies'} from the outbox`,
      );
    }
    return stored;
  }

  private async move(eventId: string | null): Promise<number> {
    const rows: unknown[] = await this.dataSource.query(MOVE_SQL, [BATCH, eventId]);
    return rows.length;
  }

  private async moveOneByOne(batchError: unknown): Promise<number> {
    let stored = 0;
    let ids: { event_id: string }[];
    try {
      ids = await this.dataSource.query(
        `SELECT event_id FROM audit_outbox ORDER BY last_try_at, occurred_at LIMIT $1`,
        [BATCH],
      );
    } catch {
      this.logger.warn(
        { err: serializeError(batchError) },
        'Audit outbox retry failed; will try again',
      );
      return 0;
    }
    for (const { event_id } of ids) {
      try {
        stored += await this.move(event_id);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        await this.dataSource
          .query(
            `UPDATE audit_outbox SET attempts = attempts + 1, last_error = $2, last_try_at = clock_timestamp()
             WHERE event_id = $1`,
            [event_id, message],
          )
          .catch(() => undefined);
        this.logger.warn(
          { eventId: event_id, error: message },
          'Pending audit entry still cannot be stored',
        );
      }
    }
    return stored;
  }

  async backlog(): Promise<AuditBacklog> {
    const rows: { pending: string; oldest: string | null; last_error: string | null }[] = await this
      .dataSource.query(`
        SELECT count(*)::text AS pending,
               to_char(min(occurred_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS oldest,
               (SELECT last_error FROM audit_outbox ORDER BY last_try_at DESC LIMIT 1) AS last_error
        FROM audit_outbox`);
    const row = rows[0];
    return {
      pending: Number(row?.pending ?? 0),
      failuresTotal: this.metrics.failures,
      recoveredTotal: this.metrics.recovered,
      oldestPendingAt: row?.oldest ?? null,
      lastError: row?.last_error ?? null,
    };
  }
}
