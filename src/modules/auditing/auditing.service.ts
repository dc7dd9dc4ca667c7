import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsService } from 'nestjs-cls';
import type { RequestContext } from '@/common/context/request-context';
import type { ActionLogEntry, ActionLogInput, AuditWriteOutcome } from './audit.types';
import { EntityTypeRegistry } from './entity-type.registry';
import { JOIN_CHAIN, SELECT_CHAIN, SELECT_ENTRY } from './query/action-log.projection';
import { actorRolesOf, auditContextOf } from './write/audit-context';
import { AuditEntryWriter } from './write/audit-entry.writer';
import { validateEntry } from './write/audit-entry.validator';

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

  private async findByEventId(eventId: string): Promise<ActionLogEntry | null> {
    const rows: ActionLogEntry[] = await this.txHost.tx.query(
      `SELECT ${SELECT_ENTRY}, ${SELECT_CHAIN} FROM action_log l ${JOIN_CHAIN} WHERE l.event_id = $1`,
      [eventId],
    );
    return rows[0] ?? null;
  }
}
