import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import { Audited } from '../audited.decorator';
import { AuditedExecution } from './audited-execution';

/**
 * For handlers marked `@Audited` only: runs the handler in one transaction and, once it has
 * succeeded, writes the entry in that same transaction before the commit. The handler is
 * subscribed *inside* the transaction (`next.handle().pipe(tap())` would run it outside).
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly execution: AuditedExecution,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options = this.reflector.getAllAndOverride(Audited, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!options || context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const invocation = {
      params: (request.params ?? {}) as Record<string, string | undefined>,
      body: request.body,
      query: request.query,
      args: [],
    };
    return defer(() =>
      this.execution.run(options, invocation, () =>
        lastValueFrom(next.handle(), { defaultValue: undefined }),
      ),
    );
  }
}
