import { randomUUID } from 'node:crypto';
import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { escapeLiteral } from 'pg';
import { DataSource } from 'typeorm';
import { DomainError } from '@/common/errors/domain-error';
import { serializeError } from '@/common/logging/logging.module';
import type { Env } from '@/config/env';
import type { ActionLogContext, AuditWriteOutcome } from '../audit.types';
import { AuditMetrics } from '../audit-metrics';
import type { ValidEntry } from './audit-entry.validator';
import { runBeforeCommit } from './lean-transaction-adapter';

/** Fail-closed mode, or the outbox failed too: the entry is not stored, the change rolls back. */
export class AuditUnavailableError extends DomainError {
  constructor(cause: unknown) {
    super(
      'The audit trail cannot be written right now; the change was not applied',
      HttpStatus.SERVICE_UNAVAILABLE,
    );
    this.cause = cause;
  }
}

/**
 * SQLSTATEs `audit_write()` raises (see the AuditWriteErrorCodes migration): the entry was not
 * stored under fail-closed (`AU001`), or neither the log nor the outbox could take it (`AU002`).
 */
const AUDIT_WRITE_FAILED = new Set(['AU001', 'AU002']);

function raisedByAuditWrite(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && AUDIT_WRITE_FAILED.has(code);
}

interface PgConnection {
  query<R>(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: R[] }>;
}

const WRITE_SQL = `SELECT audit_write($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14, $15::integer, $16::text[], $17::timestamptz) AS error`;

type WriteValue = string | number | boolean | null | string[];

/** Where `values()` puts the fail-closed flag (a parameter of audit_write, not a column). */
const FAIL_CLOSED_AT = 12;

/** A value as an SQL literal, for statements sent with the simple-query protocol. */
function literal(v: WriteValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `ARRAY[${v.map((x) => escapeLiteral(x)).join(', ')}]::text[]`;
  return escapeLiteral(v);
}

/** `audit_write(...)` with its values inlined, for the simple-query protocol. */
function inlineWrite(values: WriteValue[]): string {
  return `SELECT audit_write(${values.map(literal).join(', ')}) AS error`;
}

/** An entry waiting to be written in the background, with the metadata of its request. */
export interface PendingEntry {
  entry: ValidEntry;
  context: ActionLogContext;
  /** When it happened (ISO-8601): the entry keeps this time, not the time it was stored. */
  occurredAt: string;
}

/**
 * Stores validated entries through `audit_write()`, one round trip each: the INSERT runs in a
 * savepoint and an entry that cannot be stored goes to `audit_outbox` in the same transaction
 * (fail-open), or fails the transaction (fail-closed). Keeps the failure counters.
 */
@Injectable()
export class AuditEntryWriter {
  private readonly logger = new Logger('AuditingService');
  private readonly failClosed: boolean;

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly metrics: AuditMetrics,
    private readonly dataSource: DataSource,
    config: ConfigService<Env, true>,
  ) {
    this.failClosed = config.get('AUDIT_FAILURE_POLICY', { infer: true }) === 'fail-closed';
  }

  /**
   * Writes the entry as the transaction's last statement, in the same round trip as its
   * COMMIT. Outside such a transaction, it is written right away.
   */
  async writeAtCommit(entry: ValidEntry, context: ActionLogContext): Promise<void> {
    const eventId = randomUUID();
    const values = this.values(eventId, entry, context);
    const queued = runBeforeCommit(this.txHost.tx, {
      sql: inlineWrite(values),
      onCommitted: (rows) =>
        this.settle(
          eventId,
          entry,
          context,
          (rows[0] as { error: string | null } | undefined)?.error ?? null,
        ),
      onFailed: (cause) => this.unavailable(cause, eventId, context),
      raised: raisedByAuditWrite,
    });
    if (!queued) await this.writeNow(entry, context, eventId);
  }

  /** Writes the entry now, in the current transaction if there is one. */
  async writeNow(
    entry: ValidEntry,
    context: ActionLogContext,
    eventId: string = randomUUID(),
  ): Promise<AuditWriteOutcome> {
    let error: string | null;
    try {
      const rows = await this.execute(WRITE_SQL, this.values(eventId, entry, context));
      error = rows[0]?.error ?? null;
    } catch (cause) {
      throw raisedByAuditWrite(cause) ? this.unavailable(cause, eventId, context) : cause;
    }
    return this.settle(eventId, entry, context, error);
  }

  private values(
    eventId: string,
    entry: ValidEntry,
    context: ActionLogContext,
    failClosed = this.failClosed,
    occurredAt: string | null = null,
  ): WriteValue[] {
    return [
      eventId,
      entry.actorId,
      entry.actionType,
      entry.entityType,
      entry.entityId,
      entry.details,
      context.requestId,
      context.correlationId,
      context.ip,
      context.userAgent,
      context.method,
      context.path,
      failClosed,
      entry.outcome,
      context.statusCode,
      entry.actorRoles,
      occurredAt,
    ];
  }

  /**
   * Writes entries outside any request transaction, in one round trip: one multi-row INSERT.
   * If that fails (one bad entry fails them all), the same entries go through `audit_write`
   * one by one in a single simple-query string, so each one that still cannot be inserted
   * goes to the outbox (under either policy: there is no change to roll back, keeping the
   * entry pending is the only useful thing to do). If even that fails (database unreachable,
   * outbox failing too), every entry is logged (JSON, details already redacted): none
   * disappears without a trace.
   */
  async writeBatch(batch: PendingEntry[]): Promise<number> {
    if (batch.length === 0) return 0;
    const ids = batch.map(() => randomUUID());
    const values = batch.map(({ entry, context, occurredAt }, i) =>
      this.values(ids[i], entry, context, false, occurredAt),
    );
    try {
      await this.simpleQuery(
        `INSERT INTO action_log (event_id, actor_id, action_type, entity_type, entity_id, details,
           request_id, correlation_id, ip, user_agent, method, path, outcome, status_code, actor_roles,
           "timestamp")
         VALUES ${values
           .map(
             (v) =>
               `(${v
                 .filter((_, k) => k !== FAIL_CLOSED_AT)
                 .map(literal)
                 .join(', ')})`,
           )
           .join(',\n')}`,
      );
      return batch.length;
    } catch {
      // Told apart entry by entry below.
    }
    let results: { rows: { error: string | null }[] }[];
    try {
      results = await this.simpleQuery(values.map(inlineWrite).join(';\n'));
    } catch (cause) {
      this.metrics.failures += batch.length;
      for (const [i, { entry, context }] of batch.entries()) {
        this.logger.error(
          { err: serializeError(cause), eventId: ids[i], entry, context },
          'Audit entry could not be written; it is kept in this log line only',
        );
      }
      return 0;
    }
    let stored = 0;
    batch.forEach(({ entry, context }, i) => {
      const outcome = this.settle(ids[i], entry, context, results[i]?.rows[0]?.error ?? null);
      if (outcome.stored) stored++;
    });
    return stored;
  }

  /** Fail-closed (re-raised by audit_write), or the outbox itself failed: nothing commits. */
  private unavailable(
    cause: unknown,
    eventId: string,
    context: ActionLogContext,
  ): AuditUnavailableError {
    this.metrics.failed('refused');
    this.logger.error(
      { err: serializeError(cause), requestId: context.requestId, eventId },
      'Audit entry could not be written; the change is rolled back',
    );
    return new AuditUnavailableError(cause);
  }

  private settle(
    eventId: string,
    entry: ValidEntry,
    context: ActionLogContext,
    error: string | null,
  ): AuditWriteOutcome {
    if (error === null) {
      this.metrics.stored();
      return { eventId, stored: true };
    }
    this.metrics.failed('pending', this.failClosed);
    this.logger.error(
      {
        requestId: context.requestId,
        eventId,
        entityType: entry.entityType,
        entityId: entry.entityId,
        error,
      },
      'Audit entry insert failed; kept in the outbox and retried until stored',
    );
    return { eventId, stored: false, error };
  }

  /** Runs a multi-statement string on a pooled connection; one result per statement. */
  private async simpleQuery(sql: string): Promise<{ rows: { error: string | null }[] }[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      const client = (await runner.connect()) as {
        query(text: string): Promise<unknown>;
      };
      const raw = await client.query(sql);
      return (Array.isArray(raw) ? raw : [raw]) as { rows: { error: string | null }[] }[];
    } finally {
      await runner.release();
    }
  }

  /**
   * Runs the write on the transaction's own connection as a named prepared statement (parsed
   * and planned once per connection), bypassing TypeORM's per-query overhead. Outside a
   * transaction it falls back to TypeORM.
   */
  private async execute(text: string, values: unknown[]): Promise<{ error: string | null }[]> {
    const connection = (
      this.txHost.tx.queryRunner as { databaseConnection?: PgConnection } | undefined
    )?.databaseConnection;
    if (!connection) return this.txHost.tx.query(text, values);
    const result = await connection.query<{ error: string | null }>({
      name: 'audit_write',
      text,
      values,
    });
    return result.rows;
  }
}
