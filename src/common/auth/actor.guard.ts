import {
  BadRequestException,
  Injectable,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ClsService } from 'nestjs-cls';
import {
  acceptId,
  ANONYMOUS_ACTOR,
  SYSTEM_ACTOR,
  USER_ID_HEADER,
  type RequestContext,
} from '@/common/context/request-context';

/**
 * Authentication, header mode (the default for local use): `X-User-ID` names the actor,
 * `anonymous` when absent. A malformed id is refused rather than silently recorded as someone
 * else, and so is `system`: it is reserved for the engine and jobs, so an entry by `system` is
 * never a caller's.
 * A JWT mode will replace this guard; the rest of the app reads the actor from the context.
 */
@Injectable()
export class ActorGuard implements CanActivate {
  constructor(private readonly cls: ClsService<RequestContext>) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const raw = context.switchToHttp().getRequest<FastifyRequest>().headers[USER_ID_HEADER];
    if (raw === undefined) {
      this.cls.set('actorId', ANONYMOUS_ACTOR);
      return true;
    }
    const actorId = acceptId(raw);
    if (!actorId) {
      throw new BadRequestException(
        'X-User-ID must be 1-128 characters of letters, digits and . _ : @ / + = -',
      );
    }
    if (actorId.toLowerCase() === SYSTEM_ACTOR) {
      throw new BadRequestException(
        `X-User-ID must not be "${SYSTEM_ACTOR}" (reserved for the engine and jobs)`,
      );
    }
    this.cls.set('actorId', actorId);
    return true;
  }
}
