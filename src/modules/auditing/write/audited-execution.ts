import { Injectable, InternalServerErrorException } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsService } from 'nestjs-cls';
import { SYSTEM_ACTOR, type RequestContext } from '@/common/context/request-context';
import type { AuditContext, AuditedOptions } from '../audited.decorator';
import type { ActionLogContext, ActionLogInput, AuditDetails } from '../audit.types';
import { EntityTypeRegistry } from '../entity-type.registry';
import {
  auditedEntityTypes,
  beginCapture,
  endCapture,
  foldChanges,
  takeCaptured,
  type CapturedChange,
} from '../capture/change-capture';
import { actorRolesOf, auditContextOf } from './audit-context';
import { AuditEntryWriter } from './audit-entry.writer';
import { validateEntry } from './audit-entry.validator';

/** What the audited code was called with; the result is added once it has run. */
export type AuditInvocation = Omit<AuditContext, 'result'>;

/**
 * The one implementation of `@Audited`, shared by controllers (through `AuditInterceptor`)
 * and provider methods (wrapped at bootstrap by `AuditedMethodsExplorer`): run the code in a
 * transaction (joining one already open), then write its entry — and one per other audited
 * entity it changed — as the transaction's last statement. Code that throws writes nothing.
 * Outside a request (a background job) it runs in a fresh context whose actor is `system`.
 */
@Injectable()
export class AuditedExecution {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly writer: AuditEntryWriter,
    private readonly registry: EntityTypeRegistry,
    private readonly cls: ClsService<RequestContext>,
  ) {}

  run<T>(options: AuditedOptions, invocation: AuditInvocation, code: () => Promise<T>): Promise<T> {
    const audited = () =>
      this.txHost.withTransaction(async () => {
        const runner = this.txHost.tx.queryRunner;
        const outer = runner ? beginCapture(runner) : undefined;
        try {
          const result = await code();
          await this.write(options, { ...invocation, result }, takeCaptured(runner));
          return result;
        } finally {
          if (runner) endCapture(runner, outer);
        }
      });
    if (this.cls.isActive()) return audited();
    return this.cls.run(() => {
      this.cls.set('actorId', SYSTEM_ACTOR);
      this.cls.set('actorRoles', []);
      return audited();
    });
  }

  private async write(
    options: AuditedOptions,
    ctx: AuditContext,
    changes: CapturedChange[],
  ): Promise<void> {
    const actorId = this.cls.get('actorId') ?? SYSTEM_ACTOR;
    const actorRoles = actorRolesOf(this.cls);
    const context = auditContextOf(this.cls);
    const correlationId = options.correlationId?.(ctx);
    if (correlationId) context.correlationId = correlationId;
    const entityId = String(this.entityId(options, ctx));
    const captured = foldChanges(changes);
    const primary = captured.find(
      (c) => c.entityType === options.entity && c.entityId === entityId,
    );
    await this.record(
      {
        actorId,
        actionType: options.action,
        entityType: options.entity,
        entityId,
        details: this.details(options, ctx, primary),
        actorRoles,
      },
      context,
    );
    // Everything else the code changed in audited entities (e.g. versions removed with their
    // definition) gets an entry of its own.
    for (const change of captured) {
      if (change === primary) continue;
      await this.record(
        {
          actorId,
          actionType: change.action,
          entityType: change.entityType,
          entityId: change.entityId,
          details: change.action === 'UPDATE' ? { changes: change.changes ?? {} } : change.snapshot,
          actorRoles,
        },
        context,
      );
    }
  }

  private record(input: ActionLogInput, context: ActionLogContext): Promise<void> {
    return this.writer.writeAtCommit(validateEntry(input, this.registry), context);
  }

  private entityId(options: AuditedOptions, ctx: AuditContext): string | number {
    const resultId = (ctx.result as { id?: string | number } | null | undefined)?.id;
    const id = options.entityId
      ? options.entityId(ctx)
      : options.action === 'CREATE'
        ? resultId
        : (ctx.params.id ?? resultId);
    if (id === undefined || id === null || id === '') {
      // A declaration that cannot name its entity is a programming error: refuse to commit
      // an unaudited change.
      throw new InternalServerErrorException(
        `@Audited(${options.action} ${options.entity}) could not determine the entity id`,
      );
    }
    return id;
  }

  /**
   * Declared details win. Otherwise: CREATE → the result; UPDATE → `{ changes }` captured for
   * the entity (`{}` when an audited entity did not change); DELETE → the removed row.
   */
  private details(
    options: AuditedOptions,
    ctx: AuditContext,
    primary: CapturedChange | undefined,
  ): AuditDetails | null {
    if (options.details) return options.details(ctx) ?? null;
    switch (options.action) {
      case 'CREATE':
        if (ctx.result !== null && typeof ctx.result === 'object')
          return ctx.result as AuditDetails;
        return primary ? primary.snapshot : null;
      case 'UPDATE':
        if (primary?.action === 'UPDATE') return { changes: primary.changes ?? {} };
        return auditedEntityTypes.has(options.entity) ? { changes: {} } : null;
      case 'DELETE':
        return primary ? primary.snapshot : null;
      case 'READ':
      case 'EXECUTE':
        return null;
    }
  }
}
