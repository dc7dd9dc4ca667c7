import {
  Injectable,
  InternalServerErrorException,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import type { FastifyRequest } from 'fastify';
import { ClsService } from 'nestjs-cls';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import type { RequestContext } from '@/common/context/request-context';
import { Audited, type AuditContext, type AuditedOptions } from './audited.decorator';
import type { AuditDetails } from './audit.types';
import { AuditingService } from './auditing.service';
import {
  auditedEntityTypes,
  foldChanges,
  startCapture,
  takeCaptured,
  type CapturedChange,
} from './change-capture';

/**
 * For handlers marked `@Audited` only: runs the handler in one transaction and, once it has
 * succeeded, writes the entry in that same transaction before the commit. The handler is
 * subscribed *inside* the transaction (`next.handle().pipe(tap())` would run it outside).
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly auditing: AuditingService,
    private readonly cls: ClsService<RequestContext>,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options = this.reflector.getAllAndOverride(Audited, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!options || context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    return defer(() =>
      this.txHost.withTransaction(async () => {
        const runner = this.txHost.tx.queryRunner;
        if (runner) startCapture(runner);
        const result: unknown = await lastValueFrom(next.handle(), { defaultValue: undefined });
        const auditContext: AuditContext = {
          params: (request.params ?? {}) as Record<string, string | undefined>,
          body: request.body,
          query: request.query,
          result,
        };
        const actorId = this.cls.get('actorId');
        const entityId = String(this.entityId(options, auditContext));
        const captured = foldChanges(takeCaptured(runner));
        const primary = captured.find(
          (c) => c.entityType === options.entity && c.entityId === entityId,
        );
        await this.auditing.recordAtCommit({
          actorId,
          actionType: options.action,
          entityType: options.entity,
          entityId,
          details: this.details(options, auditContext, primary),
        });
        // Everything else the handler changed in audited entities (e.g. versions removed
        // with their definition) gets an entry of its own.
        for (const change of captured) {
          if (change === primary) continue;
          await this.auditing.recordAtCommit({
            actorId,
            actionType: change.action,
            entityType: change.entityType,
            entityId: change.entityId,
            details: capturedDetails(change),
          });
        }
        return result;
      }),
    );
  }

  private entityId(options: AuditedOptions, ctx: AuditContext): string | number {
    const id = options.entityId
      ? options.entityId(ctx)
      : options.action === 'CREATE'
        ? (ctx.result as { id?: string | number } | null | undefined)?.id
        : ctx.params.id;
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
        return null;
    }
  }
}

function capturedDetails(change: CapturedChange): AuditDetails {
  return change.action === 'UPDATE' ? { changes: change.changes ?? {} } : change.snapshot;
}
