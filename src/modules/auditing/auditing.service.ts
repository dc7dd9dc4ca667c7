import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '@/config/env';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsService } from 'nestjs-cls';
import type { RequestContext } from '@/common/context/request-context';
import type { ActionLogEntry, ActionLogInput, AuditWriteOutcome } from './audit.types';
import { EntityTypeRegistry } from './entity-type.registry';
import { SELECT_ENTRY } from './query/action-log.projection';
import { actorRolesOf, auditContextOf } from './write/audit-context';
import { AuditEntryWriter } from './write/audit-entry.writer';
import { validateEntry } from './write/audit-entry.validator';
import { ensurePartitionsFor, retentionHorizon } from './retention/partitions';
import {
  validateBulk,
  type BulkEntryInput,
  type ValidBulkEntry,
} from './bulk/bulk-entry.validator';

/** What a bulk write did: entries stored now, and entries whose event id was already stored. */
export interface BulkWriteResult {
  stored: number;
  alreadyPresent: number;
}

/**
 * Writes action-log entries by hand. Application code declares `@Audited` and never calls
 * this; it is public for system jobs, imports and tests. Every write joins the caller's
 * transaction (through the CLS transaction host) and carries the request's metadata.
 *
 * @example
 * await auditing.createActionLogEntry({
 *   actorId: 'user-1', actionType: 'CREATE', entityType: 'MCP_DEFINITION', entityId: '42',
 *   details: { name: 'files' },
 * });
 */
@Injectable()
export class AuditingService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly cls: ClsService<RequestContext>,
    private readonly registry: EntityTypeRegistry,
    private readonly writer: AuditEntryWriter,
    private readonly config: ConfigService<Env, true>,
  ) {}

  /**
   * Validates, redacts and stores one entry (in the current transaction if there is one) and
   * returns it as stored. If the insert fails under the fail-open policy, the entry is kept
   * pending and `null` is returned; under fail-closed the error propagates.
   */
  async createActionLogEntry(input: ActionLogInput): Promise<ActionLogEntry | null> {
    const outcome = await this.record(input);
    return outcome.stored ? this.findByEventId(outcome.eventId) : null;
  }

  /** The same write without reading the entry back. */
  record(input: ActionLogInput): Promise<AuditWriteOutcome> {
    // The request's roles belong to the request's actor only: an entry written on behalf of
    // someone else carries the roles its caller gives (none by default).
    const sameActor = this.cls.isActive() && this.cls.get('actorId') === input.actorId;
    const actorRoles = sameActor ? actorRolesOf(this.cls) : [];
    return this.writer.writeNow(
      validateEntry({ actorRoles, ...input }, this.registry),
      auditContextOf(this.cls),
    );
  }

  /**
   * Validates and redacts every entry first (a 400 lists each bad one as `entries[i].field`),
   * then stores them all in one statement, in the current transaction if there is one. Each
   * entry carries its client's `eventId`: one already stored is skipped, so a retried batch
   * stores nothing twice. Up to MAX_BULK_ENTRIES (10,000) entries. Entries without a request
   * or correlation id get the current request's.
   *
   * @example
   * await auditing.createActionLogEntries([{ eventId: randomUUID(), actorId: 'importer',
   *   actionType: 'CREATE', entityType: 'MCP_DEFINITION', entityId: '42',
   *   timestamp: '2026-01-02T03:04:05.123456Z' }]);
   */
  async createActionLogEntries(inputs: BulkEntryInput[]): Promise<BulkWriteResult> {
    const context = auditContextOf(this.cls);
    const entries = validateBulk(
      inputs,
      this.registry,
      context,
      Date.now(),
      retentionHorizon(this.config.get('AUDIT_RETENTION_DAYS', { infer: true })),
    );
    // An import of history may reach months that have no partition yet.
    await ensurePartitionsFor(
      this.txHost.tx,
      entries.filter((e) => e.timestamp !== null).map((e) => new Date(e.timestamp!)),
    );
    const rows: { stored: number }[] = await this.txHost.tx.query(BULK_INSERT, [
      batchJson(entries),
    ]);
    const stored = rows[0]?.stored ?? 0;
    return { stored, alreadyPresent: entries.length - stored };
  }

  private async findByEventId(eventId: string): Promise<ActionLogEntry | null> {
    const rows: ActionLogEntry[] = await this.txHost.tx.query(
      // The registry says where the entry is: one partition is read, not all.
      `SELECT ${SELECT_ENTRY} FROM action_log
       WHERE id = (SELECT entry_id FROM action_log_event_ids WHERE event_id = $1)
         AND "timestamp" = (SELECT entry_time FROM action_log_event_ids WHERE event_id = $1)`,
      [eventId],
    );
    return rows[0] ?? null;
  }
}

/**
 * The batch as one JSON array, read back by `json_to_recordset`: one parameter, parsed once by
 * PostgreSQL (cheaper than 16 arrays). Details are already serialized: they go in as they are.
 */
function batchJson(entries: ValidBulkEntry[]): string {
  const rows = entries.map((e) => {
    const fields = JSON.stringify({
      event_id: e.eventId,
      ts: e.timestamp,
      actor_id: e.actorId,
      action_type: e.actionType,
      entity_type: e.entityType,
      entity_id: e.entityId,
      request_id: e.requestId,
      correlation_id: e.correlationId,
      ip: e.ip,
      user_agent: e.userAgent,
      method: e.method,
      path: e.path,
      outcome: e.outcome,
      status_code: e.statusCode,
      actor_roles: e.actorRoles,
    });
    return `${fields.slice(0, -1)},"details":${e.details ?? 'null'}}`;
  });
  return `[${rows.join(',')}]`;
}

const BULK_INSERT = `
  WITH stored AS (
    INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
      details, request_id, correlation_id, ip, user_agent, method, path, outcome, status_code,
      actor_roles)
    SELECT x.event_id, COALESCE(x.ts, clock_timestamp()), x.actor_id, x.action_type,
      x.entity_type, x.entity_id, x.details, x.request_id, x.correlation_id, x.ip, x.user_agent,
      x.method, x.path, x.outcome, x.status_code, x.actor_roles
    FROM json_to_recordset($1::json) AS x(event_id uuid, ts timestamptz, actor_id text,
      action_type text, entity_type text, entity_id text, details jsonb, request_id text,
      correlation_id text, ip text, user_agent text, method text, path text, outcome text,
      status_code integer, actor_roles text[])
    -- An event id already stored (any month) is skipped by the exactly-once trigger.
    RETURNING 1)
  SELECT count(*)::int AS stored FROM stored`;
