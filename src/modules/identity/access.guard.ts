import {
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
  type ExecutionContext,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ClsService } from 'nestjs-cls';
import { ANONYMOUS_ACTOR, type RequestContext } from '@/common/context/request-context';
import type { Env } from '@/config/env';
import { accessRuleOf, roleRequirement } from './access.decorators';
import { AUTHENTICATOR, type Authenticator, type Identity } from './identity.types';
import { ADMIN } from './roles';

/**
 * The one global guard, in this order:
 * 1. `@Public` routes (health) pass, unidentified and never rate limited.
 * 2. Authenticate (header or jwt mode). The identity goes into the request context at once,
 *    so whatever is refused next is attributed to the verified actor.
 * 3. Rate limit (@nestjs/throttler): per actor, per IP when there is none. Failed
 *    authentications count too, so a flood of bad tokens is slowed like any other.
 * 4. Refuse a failed authentication (400/401), then authorize: any of the route's `@Roles`,
 *    or `admin`, else 403. A route without `@Roles` or `@Public` is refused for everyone.
 */
@Injectable()
export class AccessGuard extends ThrottlerGuard {
  private readonly rateLimited: boolean;
  private readonly jwtMode: boolean;

  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    @Inject(AUTHENTICATOR) private readonly authenticator: Authenticator,
    private readonly cls: ClsService<RequestContext>,
    config: ConfigService<Env, true>,
  ) {
    super(options, storage, reflector);
    this.rateLimited = config.get('RATE_LIMIT_MAX', { infer: true }) > 0;
    this.jwtMode = config.get('AUTH_MODE', { infer: true }) === 'jwt';
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const rule = accessRuleOf(this.reflector, context.getHandler(), context.getClass());
    if (rule?.public) return true;

    const req = context.switchToHttp().getRequest<FastifyRequest>();
    let identity: Identity | undefined;
    let failure: Error | undefined;
    try {
      identity = await this.authenticator.authenticate(req);
      this.cls.set('actorId', identity.actorId);
      this.cls.set('actorRoles', [...identity.roles]);
    } catch (e) {
      failure = e instanceof Error ? e : new Error(String(e));
    }

    if (this.rateLimited) await super.canActivate(context);

    if (failure) {
      if (failure instanceof UnauthorizedException && this.jwtMode) {
        // RFC 6750: the scheme to use, and an error code only when a token was sent.
        const challenge = req.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer';
        void context
          .switchToHttp()
          .getResponse<FastifyReply>()
          .header('WWW-Authenticate', challenge);
      }
      throw failure;
    }
    if (!rule) throw new ForbiddenException('this route declares no access rule');
    const roles: readonly string[] = identity!.roles;
    if (!roles.includes(ADMIN) && !rule.roles.some((r) => roles.includes(r))) {
      throw new ForbiddenException(`${roleRequirement(rule.roles)} required`);
    }
    return true;
  }

  /**
   * A 429 says where the caller stands too (the library sets only Retry-After on it): the same
   * X-RateLimit-* headers as every other answer of a limited route, as the document declares.
   */
  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    void reply.header('X-RateLimit-Limit', detail.limit);
    void reply.header('X-RateLimit-Remaining', 0);
    void reply.header('X-RateLimit-Reset', detail.timeToExpire);
    return super.throwThrottlingException(context, detail);
  }

  /** The actor when known, else the client's address. */
  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    const actor = this.cls.get('actorId');
    if (actor && actor !== ANONYMOUS_ACTOR) return Promise.resolve(`actor:${actor}`);
    return super.getTracker(req).then((ip) => `ip:${ip}`);
  }

  /** One budget per actor across all routes (the library's default is one per route). */
  protected override generateKey(_context: ExecutionContext, tracker: string, name: string) {
    return `${name}:${tracker}`;
  }
}
