import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ActorGuard } from '@/common/auth/actor.guard';
import { ClsModule, type ClsService } from 'nestjs-cls';
import {
  acceptId,
  correlationIdOf,
  REQUEST_ID_HEADER,
  SYSTEM_ACTOR,
  type RequestContext,
} from './request-context';

type RawRequest = IncomingMessage & { id?: string; originalUrl?: string };

/** The request id Fastify assigned (see `genReqId` in bootstrap.ts), or a fresh one. */
export function requestIdOf(req: RawRequest): string {
  return req.id ?? acceptId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
}

/**
 * Request context (nestjs-cls). The per-request transaction plugin is registered by the
 * auditing module, whose one-round-trip write depends on its adapter.
 * The middleware runs before guards, interceptors and handlers of every route.
 */
@Global()
@Module({
  imports: [
    ClsModule.forRoot({
      global: true,
      middleware: {
        mount: true,
        generateId: true,
        idGenerator: (req: RawRequest) => requestIdOf(req),
        setup: (cls: ClsService, req: RawRequest) => {
          const ctx = cls as ClsService<RequestContext>;
          const requestId = ctx.getId();
          const correlationId = correlationIdOf(req.headers, requestId);
          const userAgent = req.headers['user-agent'];
          ctx.set('requestId', requestId);
          ctx.set('correlationId', correlationId);
          ctx.set('actorId', SYSTEM_ACTOR); // ActorGuard sets the verified identity
          ctx.set('actorRoles', []);
          ctx.set('ip', req.socket?.remoteAddress ?? null);
          ctx.set('userAgent', userAgent ? userAgent.slice(0, 512) : null);
          ctx.set('method', req.method ?? null);
          ctx.set('path', (req.originalUrl ?? req.url ?? '').split('?')[0]?.slice(0, 2048) ?? null);
        },
      },
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: ActorGuard }],
})
export class ContextModule {}
