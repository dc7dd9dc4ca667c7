import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';
import { serializeError } from '@/common/logging/logging.module';
import type { Env } from '@/config/env';
import { PeriodicTask } from '@/common/periodic-task';
import { AuditMetrics, type AuditWriteState } from '../audit-metrics';

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
  -- An event id already stored is skipped by the log's exactly-once trigger (not returned).
  RETURNING event_id`;

/** A harmless entry for `probe()`: rolled back, never stored. */
const PROBE_SQL = `SELECT audit_write(gen_random_uuid(), 'system', 'READ', 'AUDIT_PROBE', 'probe',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, 'SUCCESS', NULL, '{}'::text[], NULL)`;

export interface AuditBacklog {
  pending: number;
  failuresTotal: number;
  recoveredTotal: number;
  oldestPendingAt: string | null;
  /** How the last write ended (`refused`: failing right now, changes roll back). */
  lastWrite: AuditWriteState;
  lastFailureAt: string | null;
  /** Detail for admins only (see `backlog()`). */
  lastError: string | null;
}

interface RetryPass {
  stored: number;
  failing: number;
  firstError: string | null;
}

@Injectable()
export class AuditOutboxService implements OnApplicationBootstrap, BeforeApplicationShutdown {
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

  /** Stops before the pool closes (see PeriodicTask). */
  beforeApplicationShutdown(): Promise<void> {
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
    const pass: RetryPass = { stored: 0, failing: 0, firstError: null };
    try {
      for (;;) {
        const moved = await this.move(null);
        pass.stored += moved;
        if (moved < BATCH) break;
      }
    } catch (error) {
      // One bad entry must not hold back the others: go one by one.
      await this.moveOneByOne(error, pass);
    }
    if (pass.stored > 0) {
      this.metrics.recovered += pass.stored;
      this.metrics.stored();
    } else if (this.metrics.lastWrite !== 'stored') {
      await this.probe();
    }
    // One line per pass, however many entries it went through.
    if (pass.failing > 0) {
      this.logger.warn(
        { stored: pass.stored, stillFailing: pass.failing, firstError: pass.firstError },
        `Audit outbox retry: ${pass.stored} stored, ${pass.failing} still failing; will try again`,
      );
    } else if (pass.stored > 0) {
      this.logger.log(
        `Stored ${pass.stored} pending audit entr${pass.stored === 1 ? 'y' : 'ies'} from the outbox`,
      );
    }
    return pass.stored;
  }

  private async move(eventId: string | null): Promise<number> {
    const rows: unknown[] = await this.dataSource.query(MOVE_SQL, [BATCH, eventId]);
    return rows.length;
  }

  private async moveOneByOne(batchError: unknown, pass: RetryPass): Promise<void> {
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
      return;
    }
    // An entry of a month without a partition (the log is partitioned by month) gets one.
    await this.dataSource
      .query(
        `SELECT audit_ensure_partitions(m, m) FROM (
           SELECT DISTINCT date_trunc('month', occurred_at, 'UTC') AS m FROM audit_outbox) months`,
      )
      .catch(() => undefined);
    for (const { event_id } of ids) {
      try {
        pass.stored += await this.move(event_id);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        pass.failing++;
        pass.firstError ??= message;
        await this.dataSource
          .query(
            `UPDATE audit_outbox SET attempts = attempts + 1, last_error = $2, last_try_at = clock_timestamp()
             WHERE event_id = $1`,
            [event_id, message],
          )
          .catch(() => undefined);
      }
    }
  }

  /**
   * After writes failed, proves the log writable again without storing anything: an entry
   * goes through `audit_write` (fail-closed, so any failure raises) in a transaction that is
   * rolled back. Under fail-closed nothing reaches the outbox, so only this (or a request
   * that succeeds) can tell that the log has recovered.
   */
  private async probe(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.query(PROBE_SQL);
      this.metrics.stored();
    } catch {
      // Still failing: the state stays, the next pass probes again.
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      await runner.release().catch(() => undefined);
    }
  }

  /**
   * The detailed view, with the last error (which may name database internals such as
   * constraints). Not public: /health shows the counts and states of `AuditHealthIndicator`;
   * this is for an admin endpoint once identities and roles exist.
   */
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
      lastWrite: this.metrics.lastWrite,
      lastFailureAt: this.metrics.lastFailureAt,
      lastError: row?.last_error ?? null,
    };
  }
}
