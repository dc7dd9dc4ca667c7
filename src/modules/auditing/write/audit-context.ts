import type { ClsService } from 'nestjs-cls';
import type { RequestContext } from '@/common/context/request-context';
import type { ActionLogContext } from '../audit.types';

const NO_REQUEST: ActionLogContext = {
  requestId: null,
  correlationId: null,
  ip: null,
  userAgent: null,
  method: null,
  path: null,
  statusCode: null,
};

/**
 * The request metadata an entry stores, read from the CLS context; nulls for system actions.
 * `statusCode` is the route's success status (the error's status for rejected attempts).
 */
export function auditContextOf(cls: ClsService<RequestContext>): ActionLogContext {
  if (!cls.isActive()) return { ...NO_REQUEST };
  return {
    requestId: cls.get('requestId') ?? null,
    correlationId: cls.get('correlationId') ?? null,
    ip: cls.get('ip') ?? null,
    userAgent: cls.get('userAgent') ?? null,
    method: cls.get('method') ?? null,
    path: cls.get('path') ?? null,
    statusCode: cls.get('routeStatus') ?? null,
  };
}

/** The roles the actor held, from the CLS context; `[]` for system actions. */
export function actorRolesOf(cls: ClsService<RequestContext>): string[] {
  if (!cls.isActive()) return [];
  const roles = cls.get('actorRoles');
  return Array.isArray(roles) ? roles : [];
}
