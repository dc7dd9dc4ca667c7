import { randomUUID } from 'node:crypto';
import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsService } from 'nestjs-cls';
import type { RequestContext } from '@/common/context/request-context';
import { DomainError } from '@/common/errors/domain-error';
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

  /** The lean write path (no read-back): what the interceptor uses. */
  async record(
    input: ActionLogInput,
    context: ActionLogContext = this.currentContext(),
  ): Promise<AuditWriteOutcome> {
    const entry = this.validate(input);
    const eventId = randomUUID();
    let error: string | null;
    try {
      const rows: { error: string | null }[] = await this.txHost.tx.query(WRITE_SQL, [
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
      ]);
      error = rows[0]?.error ?? null;
    } catch (cause) {
      // Fail-closed (re-raised by audit_write), or the outbox itself failed: either way
      // the transaction is aborted and nothing of the change commits.
      this.metrics.failures++;
      this.logger.error(
        { err: cause, requestId: context.requestId, eventId },
        'Audit entry could not be written; the change is rolled back',
      );
      throw new AuditUnavailableError(cause);
    }
    if (error === null) return { eventId, stored: true };
    this.metrics.failures++;
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
  validate(input: ActionLogInput): {
    actorId: string;
    actionType: ActionType;
    entityType: string;
    entityId: string;
    details: string | null;
  } {
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
