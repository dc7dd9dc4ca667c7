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
        const result: unknown = await lastValueFrom(next.handle(), { defaultValue: undefined });
        const auditContext: AuditContext = {
          params: (request.params ?? {}) as Record<string, string | undefined>,
          body: request.body,
          query: request.query,
          result,
        };
        await this.auditing.recordAtCommit({
          actorId: this.cls.get('actorId'),
          actionType: options.action,
          entityType: options.entity,
          entityId: this.entityId(options, auditContext),
          details: this.details(options, auditContext),
        });
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

  private details(options: AuditedOptions, ctx: AuditContext): AuditDetails | null {
    if (options.details) return options.details(ctx) ?? null;
    if (options.action === 'CREATE' && ctx.result !== null && typeof ctx.result === 'object') {
      return ctx.result as AuditDetails;
    }
    return null;
  }
}
