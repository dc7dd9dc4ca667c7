import { randomUUID } from 'node:crypto';
import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsService } from 'nestjs-cls';
import { escapeLiteral } from 'pg';
import { runBeforeCommit } from '@/common/context/lean-typeorm-adapter';
import type { RequestContext } from '@/common/context/request-context';
import { DomainError } from '@/common/errors/domain-error';
import { serializeError } from '@/common/logging/logging.module';
import type { Env } from '@/config/env';
import {
  ACTION_TYPES,
  MAX_ACTOR_ID_LENGTH,
  MAX_DETAILS_BYTES,
  MAX_ENTITY_ID_LENGTH,
  type ActionLogContext,
  type ActionLogEntry,
  type ActionLogInput,
  type ActionType,
  type AuditWriteOutcome,
} from './audit.types';
import { AuditMetrics } from './audit-metrics';
import { EntityTypeRegistry } from './entity-type.registry';
import { redact } from './redaction';

/** An entry the auditing service refuses; the message names the field. */
export class AuditValidationError extends DomainError {
  constructor(message: string) {
    super(message, HttpStatus.BAD_REQUEST);
  }
}

/** Fail-closed mode: the entry could not be stored, so the change was rolled back. */
export class AuditUnavailableError extends DomainError {
  constructor(cause: unknown) {
    super(
      'The audit trail cannot be written right now; the change was not applied',
      HttpStatus.SERVICE_UNAVAILABLE,
    );
    this.cause = cause;
  }
}

interface ValidEntry {
  actorId: string;
  actionType: ActionType;
  entityType: string;
  entityId: string;
  /** Redacted, serialized. */
  details: string | null;
}

interface PgConnection {
  query<R>(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: R[] }>;
}

const WRITE_SQL = `SELECT audit_write($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13) AS error`;

export const SELECT_ENTRY = `
  id::text AS "id", event_id AS "eventId",
  to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "timestamp",
  actor_id AS "actorId", action_type AS "actionType", entity_type AS "entityType",
  entity_id AS "entityId", details, request_id AS "requestId", correlation_id AS "correlationId",
  ip, user_agent AS "userAgent", method, path`;

/**
 * Writes action-log entries. Application code declares `@Audited` and never calls this
 * directly; it is public for system jobs, imports and tests.
 *
 * Every write joins the caller's transaction (through the CLS transaction host) and costs one
 * round trip: `audit_write()` inserts the entry inside a savepoint and, if that fails, keeps
 * it in `audit_outbox` — committed with the business change and retried until stored.
 *
 * @example
 * await auditing.createActionLogEntry({
 *   actorId: 'user-1', actionType: 'CREATE', entityType: 'MCP_DEFINITION', entityId: '42',
 *   details: { name: 'files' },
 * });
 */
@Injectable()
export class AuditingService {
  private readonly logger = new Logger(AuditingService.name);
  private readonly failClosed: boolean;

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly cls: ClsService<RequestContext>,
    private readonly registry: EntityTypeRegistry,
    private readonly metrics: AuditMetrics,
    config: ConfigService<Env, true>,
  ) {
    this.failClosed = config.get('AUDIT_FAILURE_POLICY', { infer: true }) === 'fail-closed';
  }

  /**
   * Validates, redacts and stores one entry (in the current transaction if there is one) and
   * returns it as stored. If the insert fails under the fail-open policy, the entry is kept
   * pending and `null` is returned; under fail-closed the error propagates.
   */
  async createActionLogEntry(input: ActionLogInput): Promise<ActionLogEntry | null> {
    const outcome = await this.record(input);
    return outcome.stored ? this.findByEventId(outcome.eventId) : null;
  }

  /**
   * The interceptor's path: the entry is written as the transaction's last statement, in the
   * same round trip as its COMMIT. Outside such a transaction, it is written right away.
   */
  async recordAtCommit(
    input: ActionLogInput,
    context: ActionLogContext = this.currentContext(),
  ): Promise<void> {
    const entry = this.validate(input);
    const eventId = randomUUID();
    // Every value is a string, null or the fail-closed flag.
    const values = this.values(eventId, entry, context);
    const literal = (v: string | boolean | null): string =>
      v === null ? 'NULL' : typeof v === 'boolean' ? String(v) : escapeLiteral(v);
    const queued = runBeforeCommit(this.txHost.tx, {
      sql: `SELECT audit_write(${values.map(literal).join(', ')}) AS error`,
      onCommitted: (rows) =>
        this.settle(
          eventId,
          entry,
          context,
          (rows[0] as { error: string | null } | undefined)?.error ?? null,
        ),
      onFailed: (cause) => this.unavailable(cause, eventId, context),
      // audit_write's own errors carry its name in their PL/pgSQL context.
      raised: (error) => {
        const where = (error as { where?: unknown } | null)?.where;
        return typeof where === 'string' && where.includes('audit_write');
      },
    });
    if (!queued) await this.writeNow(eventId, entry, context);
  }

  /** The lean write path (no read-back). */
  async record(
    input: ActionLogInput,
    context: ActionLogContext = this.currentContext(),
  ): Promise<AuditWriteOutcome> {
    return this.writeNow(randomUUID(), this.validate(input), context);
  }

  private async writeNow(
    eventId: string,
    entry: ValidEntry,
    context: ActionLogContext,
  ): Promise<AuditWriteOutcome> {
    let error: string | null;
    try {
      const rows = await this.execute(WRITE_SQL, this.values(eventId, entry, context));
      error = rows[0]?.error ?? null;
    } catch (cause) {
      throw this.unavailable(cause, eventId, context);
    }
    return this.settle(eventId, entry, context, error);
  }

  private values(
    eventId: string,
    entry: ValidEntry,
    context: ActionLogContext,
  ): (string | boolean | null)[] {
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
      this.failClosed,
    ];
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
    this.metrics.failed('pending');
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

  /**
   * Runs the write on the transaction's own connection as a named prepared statement (parsed
   * and planned once per connection), bypassing TypeORM's per-query overhead: it is on the
   * path of every audited request. Outside a transaction it falls back to TypeORM.
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

  /** Request metadata of the current CLS context; nulls for system actions. */
  currentContext(): ActionLogContext {
    if (!this.cls.isActive()) {
      return {
        requestId: null,
        correlationId: null,
        ip: null,
        userAgent: null,
        method: null,
        path: null,
      };
    }
    return {
      requestId: this.cls.get('requestId') ?? null,
      correlationId: this.cls.get('correlationId') ?? null,
      ip: this.cls.get('ip') ?? null,
      userAgent: this.cls.get('userAgent') ?? null,
      method: this.cls.get('method') ?? null,
      path: this.cls.get('path') ?? null,
    };
  }

  async findByEventId(eventId: string): Promise<ActionLogEntry | null> {
    const rows: ActionLogEntry[] = await this.txHost.tx.query(
      `SELECT ${SELECT_ENTRY} FROM action_log WHERE event_id = $1`,
      [eventId],
    );
    return rows[0] ?? null;
  }

  /** Checks every field; the error names the first bad one. Returns the entry ready to store. */
  validate(input: ActionLogInput): ValidEntry {
    if (input === null || typeof input !== 'object')
      throw new AuditValidationError('entry must be an object');
    const { actorId, actionType, entityType, entityId, details } = input;
    if (typeof actorId !== 'string' || actorId.trim() === '') {
      throw new AuditValidationError('actorId is required');
    }
    if (actorId.length > MAX_ACTOR_ID_LENGTH) {
      throw new AuditValidationError(`actorId must be at most ${MAX_ACTOR_ID_LENGTH} characters`);
    }
    if (!(ACTION_TYPES as readonly unknown[]).includes(actionType)) {
      throw new AuditValidationError(
        `actionType must be one of ${ACTION_TYPES.join(', ')} (got ${JSON.stringify(actionType)})`,
      );
    }
    if (typeof entityType !== 'string' || !this.registry.has(entityType)) {
      throw new AuditValidationError(
        `entityType ${JSON.stringify(entityType)} is unknown; known: ${this.registry.list().join(', ')}`,
      );
    }
    const id =
      typeof entityId === 'number' && Number.isFinite(entityId) ? String(entityId) : entityId;
    if (typeof id !== 'string' || id.trim() === '') {
      throw new AuditValidationError('entityId is required (a non-empty string or a number)');
    }
    if (id.length > MAX_ENTITY_ID_LENGTH) {
      throw new AuditValidationError(`entityId must be at most ${MAX_ENTITY_ID_LENGTH} characters`);
    }
    let serialized: string | null = null;
    if (details !== undefined && details !== null) {
      if (typeof details !== 'object' || Array.isArray(details)) {
        throw new AuditValidationError('details must be a JSON object');
      }
      serialized = JSON.stringify(redact(details));
      if (serialized.includes('\\u0000')) {
        throw new AuditValidationError('details must not contain NUL (\\u0000) characters');
      }
      if (Buffer.byteLength(serialized) > MAX_DETAILS_BYTES) {
        throw new AuditValidationError(
          `details must be at most ${MAX_DETAILS_BYTES} bytes of JSON`,
        );
      }
    }
    return { actorId, actionType, entityType, entityId: id, details: serialized };
  }
}
