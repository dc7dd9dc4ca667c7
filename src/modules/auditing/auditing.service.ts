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
import { copyEntries, type CopyClient } from './bulk/bulk-copy';
import { BulkValidation, checkBatchSize, type BulkEntryInput } from './bulk/bulk-entry.validator';

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
   * Validates and redacts every entry (a 400 lists each bad one as `entries[i].field`, and
   * nothing is stored), and stores them all with one COPY statement, in the current
   * transaction if there is one; the COPY starts on the first entries while the rest are
   * checked. Each entry carries its client's `eventId`: one already stored is skipped, so a
   * retried batch stores nothing twice. Up to MAX_BULK_ENTRIES (10,000) entries. Entries
   * without a request or correlation id get the current request's; without a `timestamp`,
   * the storing transaction's time.
   *
   * @example
   * await auditing.createActionLogEntries([{ eventId: randomUUID(), actorId: 'importer',
   *   actionType: 'CREATE', entityType: 'MCP_DEFINITION', entityId: '42',
   *   timestamp: '2026-01-02T03:04:05.123456Z' }]);
   */
  async createActionLogEntries(inputs: BulkEntryInput[]): Promise<BulkWriteResult> {
    checkBatchSize(inputs);
    const validation = new BulkValidation(
      this.registry,
      auditContextOf(this.cls),
      Date.now(),
      retentionHorizon(this.config.get('AUDIT_RETENTION_DAYS', { infer: true })),
    );
    // An import of history may reach months that have no partition yet (a COPY cannot wait
    // for one to be created: its connection is busy).
    await ensurePartitionsFor(this.txHost.tx, validation.timestamps(inputs));
    const stored = await this.withConnection((client) => copyEntries(client, inputs, validation));
    return { stored, alreadyPresent: inputs.length - stored };
  }

  /** The transaction's connection, or a pooled one (the COPY is atomic by itself). */
  private async withConnection<T>(fn: (client: CopyClient) => Promise<T>): Promise<T> {
    const own = (this.txHost.tx.queryRunner as { databaseConnection?: CopyClient } | undefined)
      ?.databaseConnection;
    if (own) return fn(own);
    const runner = this.txHost.tx.connection.createQueryRunner();
    try {
      return await fn((await runner.connect()) as CopyClient);
    } finally {
      await runner.release();
    }
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
