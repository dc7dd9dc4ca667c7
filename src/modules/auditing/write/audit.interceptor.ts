import {
  HttpStatus,
  Injectable,
  Logger,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ClsService } from 'nestjs-cls';
import { defer, lastValueFrom, tap, type Observable } from 'rxjs';
import { SYSTEM_ACTOR, type RequestContext } from '@/common/context/request-context';
import { serializeError } from '@/common/logging/logging.module';
import { Audited, AuditedRead, type AuditContext, type AuditedOptions } from '../audited.decorator';
import { UNKNOWN_ENTITY_ID } from '../audit.types';
import { EntityTypeRegistry } from '../entity-type.registry';
import { actorRolesOf, auditContextOf } from './audit-context';
import { AuditBackgroundQueue } from './audit-background.queue';
import { validateEntry } from './audit-entry.validator';
import { AuditedExecution } from './audited-execution';

/**
 * For handlers marked `@Audited`: runs the handler in one transaction and, once it has
 * succeeded, writes the entry in that same transaction before the commit. The handler is
 * subscribed *inside* the transaction (`next.handle().pipe(tap())` would run it outside).
 * For handlers marked `@AuditedRead`: no transaction; after success the entry is queued for
 * the background writer. For every route: notes the status a success gets (`routeStatus`),
 * which entries store as their `statusCode`.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  private readonly logger = new Logger('AuditInterceptor');

  constructor(
    private readonly reflector: Reflector,
    private readonly execution: AuditedExecution,
    private readonly cls: ClsService<RequestContext>,
    private readonly registry: EntityTypeRegistry,
    private readonly queue: AuditBackgroundQueue,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const targets = [context.getHandler(), context.getClass()];
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (this.cls.isActive()) this.cls.set('routeStatus', routeStatus(context, request));
    const options = this.reflector.getAllAndOverride(Audited, targets);
    const read = options ? undefined : this.reflector.getAllAndOverride(AuditedRead, targets);
    if (!options && !read) return next.handle();
    const invocation = {
      params: (request.params ?? {}) as Record<string, string | undefined>,
      body: request.body,
      query: request.query,
      args: [],
    };
    if (read) {
      return next.handle().pipe(tap((result) => this.queueRead(read, { ...invocation, result })));
    }
    return defer(() =>
      this.execution.run(options, invocation, () =>
        lastValueFrom(next.handle(), { defaultValue: undefined }),
      ),
    );
  }

  private queueRead(options: AuditedOptions, ctx: AuditContext): void {
    try {
      const id = options.entityId?.(ctx) ?? ctx.params.id ?? UNKNOWN_ENTITY_ID;
      const entry = validateEntry(
        {
          actorId: this.cls.get('actorId') ?? SYSTEM_ACTOR,
          actorRoles: actorRolesOf(this.cls),
          actionType: options.action,
          entityType: options.entity,
          entityId: id,
          details: options.details?.(ctx) ?? null,
        },
        this.registry,
      );
      this.queue.enqueue({
        entry,
        context: auditContextOf(this.cls),
        occurredAt: new Date().toISOString(),
      });
    } catch (error) {
      // The read has happened; its entry is refused (a declaration bug): say so loudly.
      this.logger.error(
        { err: serializeError(error), requestId: this.cls.get('requestId') },
        'Read entry refused; the read was not audited',
      );
    }
  }
}

/** `@HttpCode(...)` of the handler, else Nest's default: 201 for POST, 200 otherwise. */
function routeStatus(context: ExecutionContext, request: FastifyRequest): number {
  const declared: unknown = Reflect.getMetadata(HTTP_CODE_METADATA, context.getHandler());
  if (typeof declared === 'number') return declared;
  return request.method === 'POST' ? Number(HttpStatus.CREATED) : Number(HttpStatus.OK);
}
