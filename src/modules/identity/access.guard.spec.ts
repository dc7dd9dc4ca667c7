import { AsyncLocalStorage } from 'node:async_hooks';
import {
  BadRequestException,
  ForbiddenException,
  UnauthorizedException,
  type ExecutionContext,
} from '@nestjs/common';
import type { ConfigService } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import { ThrottlerStorageService } from '@nestjs/throttler';
import { SignJWT } from 'jose';
import { ClsService } from 'nestjs-cls';
import type { RequestContext } from '@/common/context/request-context';
import type { Env } from '@/config/env';
import { AccessGuard } from './access.guard';
import { Roles } from './access.decorators';
import { HeaderAuthenticator } from './header.authenticator';
import type { Authenticator } from './identity.types';
import { JwtAuthenticator } from './jwt.authenticator';

class Routes {
  @Roles('editor')
  edit(this: void): void {}
}

const SECRET = 's'.repeat(32);

/**
 * The contract with the audit side: the identity is in the request context before the guard
 * refuses, so a refused request is attributed to its verified actor (else `anonymous`).
 */
describe(AccessGuard.name, () => {
  let cls: ClsService<RequestContext>;
  const guard = (authenticator: Authenticator, mode: Env['AUTH_MODE']) => {
    const config = {
      get: (key: keyof Env) => ({ RATE_LIMIT_MAX: 0, AUTH_MODE: mode })[key as string],
    } as unknown as ConfigService<Env, true>;
    return new AccessGuard(
      { throttlers: [{ limit: 1, ttl: 1000 }] },
      new ThrottlerStorageService(),
      new Reflector(),
      authenticator,
      cls,
      config,
    );
  };
  const context = (headers: Record<string, string>): ExecutionContext => {
    const reply = { header: jest.fn() };
    return {
      getType: () => 'http',
      getHandler: () => Routes.prototype.edit,
      getClass: () => Routes,
      switchToHttp: () => ({
        getRequest: () => ({ headers, ip: '10.0.0.1' }),
        getResponse: () => reply,
      }),
    } as unknown as ExecutionContext;
  };
  /** Runs the guard in a fresh request context and returns what the context holds after it. */
  const attempt = (sut: AccessGuard, headers: Record<string, string>) =>
    cls.run(async () => {
      cls.set('actorId', 'anonymous');
      cls.set('actorRoles', []);
      const outcome = await sut.canActivate(context(headers)).then(
        () => 'allowed' as const,
        (e: unknown) => e,
      );
      return { outcome, actorId: cls.get('actorId'), actorRoles: cls.get('actorRoles') };
    });

  beforeEach(() => {
    cls = new ClsService(new AsyncLocalStorage());
  });

  it('header mode: a 403 is attributed to the caller, with the roles it holds', async () => {
    const r = await attempt(guard(new HeaderAuthenticator(), 'header'), {
      'x-user-id': 'vera',
      'x-user-roles': 'viewer',
    });
    expect(r.outcome).toBeInstanceOf(ForbiddenException);
    expect(r).toMatchObject({ actorId: 'vera', actorRoles: ['viewer'] });
  });

  it('header mode: a refused claim leaves the caller anonymous', async () => {
    const r = await attempt(guard(new HeaderAuthenticator(), 'header'), { 'x-user-id': 'system' });
    expect(r.outcome).toBeInstanceOf(BadRequestException);
    expect(r).toMatchObject({ actorId: 'anonymous', actorRoles: [] });
  });

  describe('jwt mode', () => {
    const jwt = JwtAuthenticator.fromEnv({
      JWT_SECRET: SECRET,
      JWT_ALGORITHMS: ['HS256'],
      JWT_JWKS_COOLDOWN_SECONDS: 30,
      JWT_CLOCK_TOLERANCE_SECONDS: 0,
      JWT_ROLES_CLAIM: 'realm_access.roles',
    });
    const token = (claims: Record<string, unknown>) =>
      new SignJWT({ sub: 'alice', ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(SECRET));

    it('a 403 with a verified token is attributed to its subject (nested roles claim)', async () => {
      const r = await attempt(guard(jwt, 'jwt'), {
        authorization: `Bearer ${await token({ realm_access: { roles: ['auditor'] } })}`,
      });
      expect(r.outcome).toBeInstanceOf(ForbiddenException);
      expect(r).toMatchObject({ actorId: 'alice', actorRoles: ['auditor'] });
    });

    it('reads a namespaced claim name as one claim', async () => {
      const namespaced = JwtAuthenticator.fromEnv({
        JWT_SECRET: SECRET,
        JWT_ALGORITHMS: ['HS256'],
        JWT_JWKS_COOLDOWN_SECONDS: 30,
        JWT_CLOCK_TOLERANCE_SECONDS: 0,
        JWT_ROLES_CLAIM: 'https://mcp.example.com/roles',
      });
      const r = await attempt(guard(namespaced, 'jwt'), {
        authorization: `Bearer ${await token({ 'https://mcp.example.com/roles': 'editor' })}`,
      });
      expect(r).toMatchObject({ outcome: 'allowed', actorRoles: ['editor'] });
    });

    it('passes with the role, from the nested claim', async () => {
      const r = await attempt(guard(jwt, 'jwt'), {
        authorization: `Bearer ${await token({ realm_access: { roles: ['editor'] } })}`,
      });
      expect(r).toMatchObject({ outcome: 'allowed', actorId: 'alice', actorRoles: ['editor'] });
    });

    it('a 401 leaves the caller anonymous', async () => {
      const r = await attempt(guard(jwt, 'jwt'), { authorization: 'Bearer nope' });
      expect(r.outcome).toBeInstanceOf(UnauthorizedException);
      expect(r).toMatchObject({ actorId: 'anonymous', actorRoles: [] });
    });
  });
});
