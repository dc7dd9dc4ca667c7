import { BadRequestException, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import {
  acceptId,
  ANONYMOUS_ACTOR,
  SYSTEM_ACTOR,
  USER_ID_HEADER,
} from '@/common/context/request-context';
import type { Authenticator, Identity } from './identity.types';
import { isRole, ROLES, type Role } from './roles';

export const USER_ROLES_HEADER = 'x-user-roles';
const RESERVED = new Set([SYSTEM_ACTOR, ANONYMOUS_ACTOR]);

/**
 * `AUTH_MODE=header` (local use, tests): the caller says who it is. `X-User-ID` names the
 * actor (`anonymous` when absent); `X-User-Roles` lists its roles (all of them when absent,
 * so plain curl can do everything). Nothing is verified: production refuses this mode unless
 * AUTH_ALLOW_HEADER_MODE=true (a proxy in front sets the headers).
 */
@Injectable()
export class HeaderAuthenticator implements Authenticator {
  authenticate(req: FastifyRequest): Promise<Identity> {
    return Promise.resolve({ actorId: actorOf(req), roles: rolesOf(req) });
  }
}

function actorOf(req: FastifyRequest): string {
  const raw = req.headers[USER_ID_HEADER];
  if (raw === undefined) return ANONYMOUS_ACTOR;
  const actorId = acceptId(raw);
  if (!actorId) {
    throw new BadRequestException(
      'X-User-ID must be 1-128 characters of letters, digits and . _ : @ / + = -',
    );
  }
  // `system` is the service's own jobs: a caller claiming it would hide among them.
  if (RESERVED.has(actorId.toLowerCase())) {
    throw new BadRequestException(
      `X-User-ID "${actorId}" is reserved for the engine and jobs (system) or callers without an identity (anonymous)`,
    );
  }
  return actorId;
}

function rolesOf(req: FastifyRequest): Role[] {
  const raw = req.headers[USER_ROLES_HEADER];
  if (raw === undefined) return [...ROLES];
  const names = (Array.isArray(raw) ? raw.join(',') : raw)
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  if (!names.every(isRole)) {
    throw new BadRequestException(`X-User-Roles must be a comma list of ${ROLES.join(', ')}`);
  }
  return [...new Set(names)];
}
