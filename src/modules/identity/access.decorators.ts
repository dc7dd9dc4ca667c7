import { applyDecorators } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '@/common/errors/error-response.dto';
import { ADMIN, type Role } from './roles';

/** The metadata `@Roles` writes: the roles that may call the route (admin always may). */
export const RequiredRoles = Reflector.createDecorator<readonly Role[]>();
/** The metadata `@Public` writes. */
export const PublicRoute = Reflector.createDecorator<true>();

/**
 * Who may call a route (or every route of a controller): any of `roles`, or `admin`. Also
 * documents the bearer token and the 401/403/429 answers in OpenAPI. A route without
 * `@Roles` or `@Public` is refused (403) for everyone.
 *
 * @example
 * \@Delete(':id')
 * \@Roles('editor')
 * remove(@Param('id') id: string) { ... }
 */
export function Roles(...roles: [Role, ...Role[]]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    RequiredRoles(roles),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({
      type: ErrorResponseDto,
      description: 'No verified identity (missing, expired or invalid bearer token)',
    }),
    ApiForbiddenResponse({
      type: ErrorResponseDto,
      description: `Needs ${roleRequirement(roles)}`,
    }),
    ApiTooManyRequestsResponse({
      type: ErrorResponseDto,
      description: 'Rate limit reached: wait Retry-After seconds',
    }),
  );
}

/** A route anyone may call without an identity, never rate limited (health). */
export function Public(): MethodDecorator & ClassDecorator {
  return applyDecorators(PublicRoute(true));
}

/** "role editor or admin": how a 403 and the docs name what a route needs. */
export function roleRequirement(roles: readonly Role[]): string {
  const names = [...new Set([...roles.filter((r) => r !== ADMIN), ADMIN])];
  return `role ${names.join(' or ')}`;
}

type Target = Parameters<Reflector['get']>[1];

export type AccessRule = { public: true } | { public: false; roles: readonly Role[] };

/**
 * A route's rule: the handler's own declaration wins over its controller's. `undefined`
 * when it has none (the guard refuses such a route).
 */
export function accessRuleOf(
  reflector: Reflector,
  handler: Target,
  controller: Target,
): AccessRule | undefined {
  for (const target of [handler, controller]) {
    if (reflector.get(PublicRoute, target)) return { public: true };
    const roles = reflector.get(RequiredRoles, target);
    if (roles) return { public: false, roles };
  }
  return undefined;
}
